//! What starting the tunnel takes, from what the system hands the
//! provider: the profile the app names in the start options, else what the
//! VPN configuration carries. An app-made configuration names a stored
//! profile; an MDM profile may carry the tunnel itself (its `VendorConfig`
//! becomes the provider configuration), which is stored first so that the
//! app, `status` and later starts see it like any other profile.

use vpn_ipc::message::Request;

/// What the provider found, read by the platform code.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StartInputs {
    /// `profile` in the start options: the app's choice, always honoured.
    pub chosen: Option<String>,
    /// [`vpn_release::provider_configuration::PROFILE`] of the configuration.
    pub configured: Option<String>,
    /// [`vpn_release::provider_configuration::WG_QUICK`] of the configuration.
    pub configured_tunnel: Option<String>,
}

/// The requests to the control service, in order, or why nothing can start.
pub fn start_requests(inputs: StartInputs) -> Result<Vec<Request>, String> {
    if let Some(profile) = inputs.chosen {
        return Ok(vec![Request::Start { profile }]);
    }
    match (inputs.configured, inputs.configured_tunnel) {
        (Some(profile), Some(config)) => Ok(vec![
            Request::SetConfig {
                profile: profile.clone(),
                config,
            },
            Request::Start { profile },
        ]),
        (None, Some(_)) => Err(format!(
            "the VPN configuration carries a tunnel but no `{}` to store it under: add it to the \
             profile's VendorConfig",
            vpn_release::provider_configuration::PROFILE
        )),
        (Some(profile), None) => Ok(vec![Request::Start { profile }]),
        (None, None) => Err("no profile: start the tunnel from the app, which names one".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TUNNEL: &str = "[Interface]\nPrivateKey = x\n";

    fn start(profile: &str) -> Request {
        Request::Start {
            profile: profile.into(),
        }
    }

    #[test]
    fn the_apps_choice_wins_over_the_configuration() {
        let inputs = StartInputs {
            chosen: Some("home".into()),
            configured: Some("office".into()),
            configured_tunnel: Some(TUNNEL.into()),
        };
        assert_eq!(start_requests(inputs), Ok(vec![start("home")]));
    }

    #[test]
    fn a_managed_tunnel_is_stored_under_its_name_then_started() {
        let inputs = StartInputs {
            chosen: None,
            configured: Some("office".into()),
            configured_tunnel: Some(TUNNEL.into()),
        };
        assert_eq!(
            start_requests(inputs),
            Ok(vec![
                Request::SetConfig {
                    profile: "office".into(),
                    config: TUNNEL.into()
                },
                start("office")
            ])
        );
    }

    #[test]
    fn on_demand_starts_the_configured_profile() {
        let inputs = StartInputs {
            configured: Some("office".into()),
            ..StartInputs::default()
        };
        assert_eq!(start_requests(inputs), Ok(vec![start("office")]));
    }

    #[test]
    fn a_tunnel_without_a_name_or_nothing_at_all_is_refused_with_the_reason() {
        let nameless = StartInputs {
            configured_tunnel: Some(TUNNEL.into()),
            ..StartInputs::default()
        };
        assert!(start_requests(nameless)
            .unwrap_err()
            .contains("VendorConfig"));
        assert!(start_requests(StartInputs::default())
            .unwrap_err()
            .contains("no profile"));
    }
}

//! Uninstalling on Linux: the service keeps no system VPN configuration,
//! and the package manager owns the installed files.

use std::{ffi::OsString, path::Path};

use super::UninstallPlatform;
use crate::upgrade::linux::LinuxUpgrade;

impl UninstallPlatform for LinuxUpgrade<'_> {
    fn remove_configurations(&mut self) -> Result<usize, String> {
        Ok(0)
    }

    fn unregister_login_item(&mut self) -> Result<bool, String> {
        Ok(false)
    }

    fn run_as_root(&mut self, _script: &Path, _args: &[OsString]) -> Result<(), String> {
        Err("on Linux the package manager removes the installed files".into())
    }
}

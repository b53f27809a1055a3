//! Tunnel profiles on disk: one wg-quick file per profile, written 0600
//! (they hold private keys) by write-then-rename so a crash never leaves a
//! half-written key file.

use std::{
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("`{0}` is not a profile name: use letters, digits, `-` and `_` (at most 64)")]
    BadName(String),
    #[error("no profile `{0}`")]
    Missing(String),
    #[error("cannot store profile {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The directory holding one `<name>.conf` per profile.
pub struct ProfileStore {
    dir: PathBuf,
}

fn check_name(name: &str) -> Result<(), ProfileError> {
    if vpn_release::provider_configuration::is_profile_name(name) {
        Ok(())
    } else {
        Err(ProfileError::BadName(name.to_string()))
    }
}

impl ProfileStore {
    /// Opens (creating, 0700) the store at `dir`.
    pub fn open(dir: &Path) -> Result<Self, ProfileError> {
        let io = |source| ProfileError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.conf"))
    }

    pub fn save(&self, name: &str, config: &str) -> Result<(), ProfileError> {
        check_name(name)?;
        let path = self.path(name);
        let temporary = self.dir.join(format!(".{name}.conf.new"));
        let io = |source| ProfileError::Io {
            path: path.clone(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(io)?;
        file.write_all(config.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&temporary, &path).map_err(io)
    }

    /// The names of the stored profiles, sorted; files that are not a
    /// profile's (the `.name.conf.new` of an interrupted save) are skipped.
    pub fn list(&self) -> Result<Vec<String>, ProfileError> {
        let io = |source| ProfileError::Io {
            path: self.dir.clone(),
            source,
        };
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io)? {
            let file_name = entry.map_err(io)?.file_name();
            let name = file_name
                .to_str()
                .and_then(|f| f.strip_suffix(".conf"))
                .filter(|name| check_name(name).is_ok());
            names.extend(name.map(str::to_string));
        }
        names.sort();
        Ok(names)
    }

    pub fn load(&self, name: &str) -> Result<String, ProfileError> {
        check_name(name)?;
        let path = self.path(name);
        match std::fs::read_to_string(&path) {
            Ok(config) => Ok(config),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(ProfileError::Missing(name.into()))
            }
            Err(source) => Err(ProfileError::Io { path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_private_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = ProfileStore::open(&dir.path().join("profiles")).unwrap();
        store
            .save("home", "[Interface]\nPrivateKey = secret\n")
            .unwrap();
        let mode = std::fs::metadata(dir.path().join("profiles/home.conf"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let reopened = ProfileStore::open(&dir.path().join("profiles")).unwrap();
        assert!(reopened.load("home").unwrap().contains("secret"));
        assert!(matches!(
            reopened.load("work"),
            Err(ProfileError::Missing(_))
        ));
    }

    #[test]
    fn the_list_holds_saved_profiles_only_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let store = ProfileStore::open(dir.path()).unwrap();
        assert!(store.list().unwrap().is_empty());
        for name in ["work", "home"] {
            store.save(name, "[Interface]\n").unwrap();
        }
        // An interrupted save, and files nobody saved as a profile.
        for stray in [".office.conf.new", "notes.txt", "bad name.conf", ".conf"] {
            std::fs::write(dir.path().join(stray), "").unwrap();
        }
        assert_eq!(store.list().unwrap(), ["home", "work"]);
    }

    #[test]
    fn names_cannot_escape_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = ProfileStore::open(dir.path()).unwrap();
        for name in [
            "../etc/passwd",
            "a/b",
            "",
            ".hidden",
            "x".repeat(65).as_str(),
        ] {
            assert!(
                matches!(store.save(name, ""), Err(ProfileError::BadName(_))),
                "{name}"
            );
        }
    }
}

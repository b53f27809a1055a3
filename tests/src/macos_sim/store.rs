//! Where the simulated Mac lives: in memory for tests of the upgrade
//! decisions, or in one JSON file shared by the fake tools, the simulated
//! app and the test (each access under an exclusive lock).

use std::{
    fs::{File, OpenOptions},
    io::{Read, Seek, Write},
    path::{Path, PathBuf},
    time::Duration,
};

use nix::fcntl::{Flock, FlockArg};

use super::model::Mac;

/// Reading and changing the Mac, and letting time pass.
pub trait MacAccess {
    fn with<R>(&mut self, f: impl FnOnce(&mut Mac) -> R) -> R;
    fn sleep(&mut self, duration: Duration);
}

/// In memory, time is simulated.
impl MacAccess for Mac {
    fn with<R>(&mut self, f: impl FnOnce(&mut Mac) -> R) -> R {
        self.settle();
        f(self)
    }

    fn sleep(&mut self, duration: Duration) {
        self.simulated_ms += duration.as_millis() as u64;
    }
}

/// The state file named by `MACOS_SIM_STATE`.
#[derive(Clone, Debug)]
pub struct MacFile {
    pub path: PathBuf,
}

pub const STATE_VARIABLE: &str = "MACOS_SIM_STATE";

impl MacFile {
    pub fn create(path: &Path, mac: &Mac) -> Self {
        std::fs::write(
            path,
            serde_json::to_vec_pretty(mac).expect("the Mac serialises"),
        )
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        Self {
            path: path.to_path_buf(),
        }
    }

    pub fn from_env() -> Self {
        let path = std::env::var_os(STATE_VARIABLE)
            .unwrap_or_else(|| panic!("{STATE_VARIABLE} names the simulated Mac's state file"));
        Self { path: path.into() }
    }

    pub fn read(&self) -> Mac {
        let mut copy = None;
        self.clone().with(|mac| copy = Some(mac.clone()));
        copy.expect("read under the lock")
    }
}

impl MacAccess for MacFile {
    fn with<R>(&mut self, f: impl FnOnce(&mut Mac) -> R) -> R {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", self.path.display()));
        let mut file: Flock<File> = Flock::lock(file, FlockArg::LockExclusive)
            .unwrap_or_else(|(_, e)| panic!("cannot lock {}: {e}", self.path.display()));
        let mut text = String::new();
        file.read_to_string(&mut text)
            .expect("the state file reads");
        let mut mac: Mac = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not a simulated Mac: {e}", self.path.display()));
        mac.settle();
        let result = f(&mut mac);
        let json = serde_json::to_vec_pretty(&mac).expect("the Mac serialises");
        file.set_len(0).expect("the state file truncates");
        file.rewind().expect("the state file rewinds");
        file.write_all(&json).expect("the state file writes");
        result
    }

    fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

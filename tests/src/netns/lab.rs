//! The namespaces themselves, and the lab of two of them joined by veth.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex,
    },
};

/// A name unique to this test process and call, short enough for an
/// interface name (15 bytes).
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}{}{}",
        std::process::id() % 100_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub struct Netns {
    pub name: String,
    children: Mutex<Vec<Child>>,
}

impl Netns {
    pub fn new() -> Self {
        let name = unique("vkns");
        crate::run_ok(
            "ip netns add",
            Command::new("ip").args(["netns", "add", &name]),
        );
        let ns = Self {
            name,
            children: Mutex::new(Vec::new()),
        };
        ns.ip("link set lo up");
        ns
    }

    /// `ip -n NS <args>`, which must succeed.
    pub fn ip(&self, args: &str) {
        crate::run_ok(
            &format!("ip {args}"),
            Command::new("ip")
                .args(["-n", &self.name])
                .args(args.split_whitespace()),
        );
    }

    /// A command that runs inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// Starts `command` (from [`Netns::command`]) in the background, its
    /// output going to `log`; it is killed when the namespace is dropped,
    /// or earlier by [`Netns::kill`].
    pub fn spawn(&self, mut command: Command, log: &Path) -> u32 {
        let out = File::create(log).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let pid = child.id();
        self.children.lock().unwrap().push(child);
        pid
    }

    /// Kills a process started by [`Netns::spawn`] and waits for it.
    pub fn kill(&self, pid: u32, signal: &str) {
        let mut children = self.children.lock().unwrap();
        if let Some(index) = children.iter().position(|c| c.id() == pid) {
            let mut child = children.remove(index);
            let _ = Command::new("kill")
                .args([signal, &pid.to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Runs `f` on a thread that has entered this namespace: sockets it
    /// opens live there.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = PathBuf::from("/var/run/netns").join(&self.name);
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let ns = File::open(&path).unwrap();
                    nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET)
                        .expect("setns into the test namespace");
                    f()
                })
                .join()
                .expect("namespace thread")
        })
    }
}

impl Default for Netns {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for mut child in self.children.lock().unwrap().drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Two namespaces joined by veth: `a` is 192.168.77.1 / fd77::1 on `va`,
/// `b` is 192.168.77.2 / fd77::2 on `vb`.
pub struct Lab {
    pub a: Netns,
    pub b: Netns,
}

pub const A_UNDERLAY: &str = "192.168.77.1";
pub const B_UNDERLAY: &str = "192.168.77.2";
pub const A_UNDERLAY6: &str = "fd77::1";
pub const B_UNDERLAY6: &str = "fd77::2";

impl Lab {
    pub fn new() -> Self {
        let (a, b) = (Netns::new(), Netns::new());
        crate::run_ok(
            "veth",
            Command::new("ip").args([
                "link", "add", "va", "netns", &a.name, "type", "veth", "peer", "name", "vb",
                "netns", &b.name,
            ]),
        );
        for (ns, dev, v4, v6) in [
            (&a, "va", A_UNDERLAY, A_UNDERLAY6),
            (&b, "vb", B_UNDERLAY, B_UNDERLAY6),
        ] {
            ns.ip(&format!("addr add {v4}/24 dev {dev}"));
            ns.ip(&format!("addr add {v6}/64 dev {dev} nodad"));
            ns.ip(&format!("link set {dev} up"));
        }
        Self { a, b }
    }
}

impl Default for Lab {
    fn default() -> Self {
        Self::new()
    }
}

//! The control channel over a Unix domain socket (Linux, and tests
//! everywhere). macOS uses XPC with code-signature checks instead.
//!
//! Access control, in depth: the socket lives in a directory only its owner
//! can write (checked before binding), is created 0600 (the umask is set
//! before `bind`, so it never exists with looser modes) and handed to the
//! one user allowed to connect, or opened to every local user; every
//! connection's peer uid is taken from the kernel's record of it
//! (`SO_PEERCRED` / `getpeereid`) before a byte is read, and decides
//! whether the peer may connect at all and whether it may change the
//! tunnel or only read it ([`crate::caller`]).
//!
//! A stale socket is replaced under a lock held for the server's life, so
//! two servers starting at once cannot both take the path.
//!
//! Each connection has its own thread and its own frame decoder, so a peer
//! that sends garbage, oversized frames or stops mid-frame costs at most one
//! frame of memory and a thread until its idle timeout, and only its own
//! connection is closed. The number of connections is bounded.

#[cfg_attr(
    any(target_os = "linux", target_os = "android"),
    path = "peer/linux.rs"
)]
#[cfg_attr(
    not(any(target_os = "linux", target_os = "android")),
    path = "peer/bsd.rs"
)]
mod peer;

use std::{
    collections::HashMap,
    fs::File,
    io::{self, Read, Write},
    net::Shutdown,
    os::unix::{
        fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt},
        net::{UnixListener, UnixStream},
    },
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use nix::fcntl::{Flock, FlockArg};

use crate::{
    caller::Caller,
    framing::{encode_frame, FrameDecoder, FrameError},
    message::{Request, RequestEnvelope, Response, ResponseEnvelope},
    session::{carry_out, Dispatch, ExtensionInfo, ServerSession, Service},
    transport::{ControlClient, TransportError},
};

pub use peer::peer_uid;

/// How the server listens and whom it lets in.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub path: PathBuf,
    /// Uids allowed to connect (root is not implied).
    pub allowed_uids: Vec<u32>,
    /// Every local user may connect (the socket is 0666) and read the
    /// tunnel; `allowed_uids` is then not consulted.
    pub anyone_may_connect: bool,
    /// Uids that may change the tunnel besides root (there is no console
    /// user on a Linux service).
    pub controllers: Vec<u32>,
    /// Owner given to the socket file so that user can connect to a 0600 socket.
    pub socket_owner: Option<u32>,
    pub max_connections: usize,
    /// A connection silent this long is closed.
    pub idle_timeout: Duration,
}

struct Shared {
    info: ExtensionInfo,
    service: Arc<dyn Service>,
    allowed_uids: Option<Vec<u32>>,
    controllers: Vec<u32>,
    quiesced: AtomicBool,
    idle_timeout: Duration,
    /// Open connections, so `Quiesce` can close the others.
    connections: Mutex<HashMap<u64, UnixStream>>,
    next_connection: AtomicU64,
    max_connections: usize,
}

/// The extension's listener.
pub struct Server {
    listener: UnixListener,
    shared: Arc<Shared>,
    /// Held while serving: no other server replaces this socket.
    _lock: Flock<File>,
}

/// Refuses a socket directory that someone other than its owner (this
/// process's user) could write: they could replace the socket with their
/// own and hear what the app says.
fn check_socket_dir(dir: &Path) -> io::Result<()> {
    let metadata = std::fs::metadata(dir)?;
    let ours = nix::unistd::geteuid().as_raw();
    if metadata.uid() != ours || metadata.mode() & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is owned by uid {} with mode {:o}; the control socket's folder must \
                 belong to uid {ours} and be writable by nobody else (chown {ours} and \
                 chmod go-w it, or choose another --socket)",
                dir.display(),
                metadata.uid(),
                metadata.mode() & 0o7777
            ),
        ));
    }
    Ok(())
}

impl Server {
    /// Binds the socket at `config.path` (replacing a stale one, never a
    /// live one) with mode 0600, owned by `config.socket_owner` when given.
    pub fn bind(
        config: &ServerConfig,
        info: ExtensionInfo,
        service: Arc<dyn Service>,
    ) -> io::Result<Self> {
        let dir = match config.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir)?;
        }
        check_socket_dir(dir)?;
        let in_use = || {
            io::Error::new(
                io::ErrorKind::AddrInUse,
                format!(
                    "another extension is already serving {}",
                    config.path.display()
                ),
            )
        };
        let mut lock_path = config.path.clone().into_os_string();
        lock_path.push(".lock");
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)?;
        let lock =
            Flock::lock(lock_file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
                match errno {
                    nix::errno::Errno::EWOULDBLOCK => in_use(),
                    errno => io::Error::from(errno),
                }
            })?;
        // A server of an older build holds no lock: ask the socket too.
        if UnixStream::connect(&config.path).is_ok() {
            return Err(in_use());
        }
        match std::fs::remove_file(&config.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let previous = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
        let bound = UnixListener::bind(&config.path);
        nix::sys::stat::umask(previous);
        let listener = bound?;
        let mode = if config.anyone_may_connect {
            0o666
        } else {
            0o600
        };
        std::fs::set_permissions(&config.path, std::fs::Permissions::from_mode(mode))?;
        if let Some(owner) = config.socket_owner {
            std::os::unix::fs::chown(&config.path, Some(owner), None)?;
        }
        Ok(Self {
            listener,
            _lock: lock,
            shared: Arc::new(Shared {
                info,
                service,
                allowed_uids: (!config.anyone_may_connect).then(|| config.allowed_uids.clone()),
                controllers: config.controllers.clone(),
                quiesced: AtomicBool::new(false),
                idle_timeout: config.idle_timeout,
                connections: Mutex::new(HashMap::new()),
                next_connection: AtomicU64::new(1),
                max_connections: config.max_connections,
            }),
        })
    }

    /// Accepts connections until the listener fails, each served on its own
    /// thread.
    pub fn run(self) -> io::Result<()> {
        for stream in self.listener.incoming() {
            let stream = match stream {
                Ok(stream) => stream,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let shared = Arc::clone(&self.shared);
            std::thread::spawn(move || {
                let _ = serve(stream, &shared);
            });
        }
        Ok(())
    }
}

/// Serves one connection; errors end only this connection.
fn serve(mut stream: UnixStream, shared: &Shared) -> io::Result<()> {
    let uid = peer_uid(&stream)?;
    if shared
        .allowed_uids
        .as_ref()
        .is_some_and(|allowed| !allowed.contains(&uid))
    {
        // No reply: an unknown local user learns nothing about the service.
        return stream.shutdown(Shutdown::Both);
    }
    // A reader that stops reading must not hold a thread forever.
    stream.set_write_timeout(Some(shared.idle_timeout))?;
    let caller = Caller::new(uid, None, shared.controllers.contains(&uid));
    let id = shared.next_connection.fetch_add(1, Ordering::Relaxed);
    {
        let mut connections = shared.connections.lock().expect("connections lock");
        if connections.len() >= shared.max_connections {
            return stream.shutdown(Shutdown::Both);
        }
        connections.insert(id, stream.try_clone()?);
    }
    let result = serve_frames(&mut stream, shared, id, caller);
    shared
        .connections
        .lock()
        .expect("connections lock")
        .remove(&id);
    let _ = stream.shutdown(Shutdown::Both);
    result
}

fn send(stream: &mut UnixStream, reply: &ResponseEnvelope) -> io::Result<()> {
    let frame = encode_frame(&reply.to_json_within_frame()).map_err(io::Error::other)?;
    stream.write_all(&frame)
}

fn serve_frames(
    stream: &mut UnixStream,
    shared: &Shared,
    id: u64,
    caller: Caller,
) -> io::Result<()> {
    stream.set_read_timeout(Some(shared.idle_timeout))?;
    let mut session = ServerSession::default();
    let mut decoder = FrameDecoder::default();
    let mut buffer = [0u8; 8192];
    loop {
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            return decoder.finish().map_err(io::Error::other);
        }
        for frame in decoder.feed(&buffer[..read]).map_err(io::Error::other)? {
            let quiesced = shared.quiesced.load(Ordering::SeqCst);
            match session.on_frame(&frame, &shared.info, quiesced, caller) {
                Dispatch::Reply(reply) => send(stream, &reply)?,
                Dispatch::ReplyAndClose(reply) => return send(stream, &reply),
                Dispatch::Serve {
                    id: request_id,
                    request,
                } => {
                    let response =
                        carry_out(&request, shared.service.as_ref(), &shared.quiesced, || {
                            close_others(shared, id)
                        });
                    send(
                        stream,
                        &ResponseEnvelope {
                            id: request_id,
                            response,
                        },
                    )?;
                }
            }
        }
    }
}

/// Closes every connection but `keep` (on `Quiesce`).
fn close_others(shared: &Shared, keep: u64) {
    let connections = shared.connections.lock().expect("connections lock");
    for (id, stream) in connections.iter() {
        if *id != keep {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the extension at {path}")]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the connection to the extension failed")]
    Io(#[from] io::Error),
    #[error("the extension's reply is not valid")]
    Frame(#[from] FrameError),
    #[error("the extension's reply is not valid JSON")]
    Decode(#[from] serde_json::Error),
    #[error("the extension closed the connection")]
    Closed,
    #[error("the extension answered request {got} instead of {expected}")]
    WrongId { expected: u64, got: u64 },
}

/// The app's end of a connection.
pub struct Client {
    stream: UnixStream,
    decoder: FrameDecoder,
    next_id: u64,
}

impl Client {
    pub fn connect(path: &Path, timeout: Duration) -> Result<Self, ClientError> {
        let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
            path: path.to_path_buf(),
            source,
        })?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Self {
            stream,
            decoder: FrameDecoder::default(),
            next_id: 1,
        })
    }

    /// Sends one request and waits for its reply.
    pub fn send(&mut self, request: Request) -> Result<Response, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let frame = encode_frame(&RequestEnvelope { id, request }.to_json())?;
        self.stream.write_all(&frame)?;
        let reply = self.read_reply()?;
        if reply.id != id {
            return Err(ClientError::WrongId {
                expected: id,
                got: reply.id,
            });
        }
        Ok(reply.response)
    }

    fn read_reply(&mut self) -> Result<ResponseEnvelope, ClientError> {
        let mut buffer = [0u8; 8192];
        loop {
            let read = self.stream.read(&mut buffer)?;
            if read == 0 {
                return Err(ClientError::Closed);
            }
            // Requests are sent one at a time, so a read holds at most one reply.
            if let Some(frame) = self.decoder.feed(&buffer[..read])?.into_iter().next() {
                return Ok(ResponseEnvelope::from_json(&frame)?);
            }
        }
    }
}

impl ControlClient for Client {
    fn request(&mut self, request: Request) -> Result<Response, TransportError> {
        self.send(request).map_err(TransportError::new)
    }
}

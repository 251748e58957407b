//! `TCP_NODELAY` on the connections to PostgreSQL. sqlx 0.9 opens its TCP connections without
//! it (0.7 set it), so a query whose message ends in a partial segment waits for the server's
//! delayed acknowledgement, 40 ms on Linux, before its last bytes leave. Measured on loopback:
//! TAXII objects written at about 2,000 a second over TCP against 18,800 a second over a Unix
//! socket, where there is no such wait (BENCHMARKS.md). sqlx gives no way to reach the socket,
//! so each new connection sets the option on the process's sockets.

/// Sets `TCP_NODELAY` on every socket of this process (Linux: read from `/proc/self/fd`;
/// elsewhere nothing happens). Sockets that are not TCP refuse it and are left as they are;
/// TCP sockets of other parts of the process (the HTTP server's, the webhook client's) only
/// send small writes sooner.
pub(crate) fn set_on_sockets() {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for entry in dir.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<libc::c_int>().ok())
        else {
            continue;
        };
        let socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        if !socket {
            continue;
        }
        let one: libc::c_int = 1;
        // SAFETY: setsockopt only reads `size_of::<c_int>()` bytes from `&one`, which lives
        // across the call. If the descriptor was closed meanwhile, or reused for something
        // that is not a TCP socket, the call fails (EBADF, ENOTSOCK, EOPNOTSUPP) and changes
        // nothing.
        #[allow(unsafe_code)]
        let _ = unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&raw const one).cast::<libc::c_void>(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }
}

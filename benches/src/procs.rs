//! The binaries under test as child processes: started on loopback (optionally pinned to a
//! core with `taskset`), their printed addresses, CPU time and resident memory read from
//! `/proc`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Where the workspace's release binaries are: next to the running harness.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent().expect("target dir").to_path_buf()
}

/// Build the binaries the harness starts (a no-op when they are fresh). Runs only under
/// `cargo run`, which tells us which cargo to use.
pub fn build_binaries() {
    let Ok(cargo) = std::env::var("CARGO") else {
        return;
    };
    eprintln!("building the release binaries under test…");
    let ok = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-q",
            "-p",
            "tessera-sidecar",
            "-p",
            "tessera-control-plane",
            "--bin",
            "tessera-sidecar",
            "--bin",
            "tessera-control-plane",
            "-p",
            "tessera-benches",
            "--bin",
            "baseline-server",
        ])
        .status()
        .expect("cargo runs");
    assert!(ok.success(), "building the binaries failed");
}

/// A loopback address no one listens on now (for a program told where to listen).
pub fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// `path` under `taskset -c cores`, its stdout scanned for `http://` addresses (sent on
/// the channel as they are printed).
fn spawn(
    path: &Path,
    args: &[String],
    env: &[(&str, String)],
    cores: &str,
) -> (Child, mpsc::Receiver<SocketAddr>) {
    let mut child = Command::new("taskset")
        .args(["-c", cores])
        .arg(path)
        .args(args)
        .env("RUST_LOG", "warn")
        .env("TESSERA_DEV_SIDECAR", "off")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{} starts: {e}", path.display()));
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            for part in line.split("http://").skip(1) {
                let addr: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                    .collect();
                if let Ok(a) = addr.parse::<SocketAddr>() {
                    let _ = tx.send(a);
                }
            }
        }
    });
    (child, rx)
}

/// Pin the calling thread (and every thread it starts later) to the CPUs `cores`.
pub fn pin_self(cores: &str) {
    let pid = std::process::id().to_string();
    let _ = Command::new("taskset")
        .args(["-p", "-c", cores, &pid])
        .stdout(Stdio::null())
        .status();
}

/// A started binary; SIGTERM then SIGKILL when dropped.
pub struct Proc {
    child: Child,
    /// The `http://` addresses it printed, in order.
    pub addrs: Vec<SocketAddr>,
}

impl Proc {
    /// Start `bin` (a file in [`bin_dir`]) with `args` and `env` on the CPUs `cores`
    /// (`taskset` list: "0", "0,1"), and wait until it printed `want` addresses.
    pub fn start(
        bin: &str,
        args: &[String],
        env: &[(&str, String)],
        cores: &str,
        want: usize,
    ) -> Proc {
        Proc::start_program(&bin_dir().join(bin), args, env, cores, want)
    }

    /// [`Proc::start`] for any program (a peer: `node`, …), by path or by name on `PATH`.
    pub fn start_program(
        path: &Path,
        args: &[String],
        env: &[(&str, String)],
        cores: &str,
        want: usize,
    ) -> Proc {
        let (child, rx) = spawn(path, args, env, cores);
        let mut p = Proc {
            child,
            addrs: Vec::new(),
        };
        while p.addrs.len() < want {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(a) => p.addrs.push(a),
                Err(_) => panic!("{} did not print its address", path.display()),
            }
        }
        p
    }

    /// Start a program that prints nothing (`haproxy`) and wait until `addr`, which its
    /// arguments made it listen on, accepts connections.
    pub fn start_listening(path: &Path, args: &[String], cores: &str, addr: SocketAddr) -> Proc {
        let (mut child, _) = spawn(path, args, &[], cores);
        for _ in 0..300 {
            if std::net::TcpStream::connect(addr).is_ok() {
                return Proc {
                    child,
                    addrs: vec![addr],
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{} exited: {status}", path.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        panic!("{} did not listen on {addr}", path.display())
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds (user + system) the process has used so far, all threads.
    pub fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
            + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
        ticks as f64 / 100.0
    }

    /// Resident memory in MiB.
    pub fn rss_mib(&self) -> f64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    }

    /// Send a signal by name (`TERM`, `STOP`, `CONT`…).
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.signal("TERM");
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! A minimal SMTP server on loopback (greeting, EHLO, MAIL, RCPT, DATA, QUIT) that records
//! every message it accepts — and, while `down` is set, answers `MAIL` with a temporary
//! refusal (`451`), as a mail server in trouble does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One accepted message.
#[derive(Clone, Debug)]
pub struct Received {
    /// The `RCPT TO` address.
    pub rcpt: String,
    /// The DATA, lines joined with `\n`.
    pub data: String,
}

/// Accept SMTP sessions on 127.0.0.1:0; the port and what was accepted.
pub async fn sink(down: Arc<AtomicBool>) -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox: Arc<Mutex<Vec<Received>>> = Arc::default();
    let sink = inbox.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (sink, down) = (sink.clone(), down.clone());
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut lines = BufReader::new(r).lines();
                let _ = w.write_all(b"220 sink.test ESMTP\r\n").await;
                let mut rcpt = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink.test\r\n",
                        "MAIL" if down.load(Ordering::SeqCst) => b"451 4.3.0 try again later\r\n",
                        "RCPT" => {
                            rcpt = line
                                .split_once(':')
                                .map_or("", |(_, a)| a)
                                .trim()
                                .trim_matches(['<', '>'])
                                .to_owned();
                            b"250 OK\r\n"
                        }
                        "MAIL" | "RSET" | "NOOP" => b"250 OK\r\n",
                        "DATA" => {
                            let _ = w.write_all(b"354 go ahead\r\n").await;
                            let mut data = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                data.push_str(&l);
                                data.push('\n');
                            }
                            sink.lock().unwrap().push(Received {
                                rcpt: rcpt.clone(),
                                data,
                            });
                            b"250 queued\r\n"
                        }
                        "QUIT" => {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            break;
                        }
                        _ => b"502 not implemented\r\n",
                    };
                    if w.write_all(reply).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, inbox)
}

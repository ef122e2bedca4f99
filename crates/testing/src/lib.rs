//! Test helpers shared by the functions' handler tests and the end-to-end
//! tests: a moto server on loopback, a generated snapshot and its event.
//! A dev-dependency only; nothing of it ships in a function.

use dbsnaplake_core::generate::{Spec, generate};
use dbsnaplake_core::storage::{StorageRef, Stores};

use dbsnaplake_lambda_common::StepInput;

/// A moto server (S3, Step Functions) on a free loopback port, stopped on
/// drop. The binary is `MOTO_SERVER`, else `.venv/bin/moto_server` of the
/// workspace (`make python-deps` installs it), else `moto_server` on PATH.
pub struct Moto {
    child: std::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl Moto {
    /// Starts the server and waits until it accepts connections.
    pub fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/moto_server");
        let bin = std::env::var("MOTO_SERVER").unwrap_or_else(|_| {
            if std::path::Path::new(venv).exists() {
                venv.to_string()
            } else {
                "moto_server".to_string()
            }
        });
        let child = std::process::Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {bin} ({e}): run `make python-deps` or set MOTO_SERVER")
            });
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed().as_secs() < 60,
                "moto did not start on port {port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A generated snapshot in `dir` and the event that runs a job over it.
pub async fn snapshot_event(dir: &std::path::Path) -> StepInput {
    let root = dir.to_str().expect("a UTF-8 temp dir");
    let store: StorageRef = std::sync::Arc::new(Stores::local());
    let (manifest, _) = generate(&store, &Spec::new(&format!("{root}/snap"), 5_000, 3))
        .await
        .expect("the snapshot generates");
    let event = serde_json::json!({
        "job": {
            "source": {"manifest": manifest},
            "staging": format!("{root}/staging"),
            "datalake": format!("{root}/lake"),
            "tables": {"*": {"partition_by": [{"name": "year", "from": "order_time", "fn": "year"}]}},
            "group_size": 200_000
        }
    });
    serde_json::from_value(event).expect("a valid event")
}

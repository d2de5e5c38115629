//! runc-style logging: messages go to `--log` as text or JSON lines
//! (`{"level":"error","msg":"...","time":"..."}`, the format containerd and nodelet-shim read
//! back), or to stderr when there is no `--log` (as runc: a caller that gives a log file has
//! the container's stdio on ours and must not find the runtime's errors there).

use std::io::Write;
use std::path::PathBuf;

pub struct Logger {
    file: Option<PathBuf>,
    json: bool,
    debug: bool,
}

impl Logger {
    pub fn new(file: Option<PathBuf>, json: bool, debug: bool) -> Logger {
        Logger { file, json, debug }
    }

    fn write(&self, level: &str, msg: &str) {
        if let Some(path) = &self.file {
            let line = if self.json {
                serde_json::json!({"level": level, "msg": msg, "time": noderun::state::now_rfc3339()}).to_string()
            } else {
                format!("{} {level} {msg}", noderun::state::now_rfc3339())
            };
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(f, "{line}");
            }
        }
    }

    pub fn error(&self, msg: &str) {
        if self.file.is_none() {
            eprintln!("noderun: {msg}");
        }
        self.write("error", msg);
    }

    pub fn debug(&self, msg: &str) {
        if self.debug {
            if self.file.is_none() {
                eprintln!("noderun: debug: {msg}");
            }
            self.write("debug", msg);
        }
    }
}

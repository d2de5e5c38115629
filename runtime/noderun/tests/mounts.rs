//! Mounts seen from inside: tmpfs options, bind and read-only binds, devpts ptmxmode, masked
//! and read-only paths, read-only root, configured devices and the /dev links.

mod common;
use common::*;
use serde_json::json;

#[test]
fn mounts_masks_and_readonly_paths() {
    if !ready() {
        return;
    }
    let w = World::new("mounts");
    let host_dir = w.tmp.path().join("shared");
    std::fs::create_dir(&host_dir).unwrap();
    std::fs::write(host_dir.join("hello"), "from-host").unwrap();
    let script = r#"
        grep ' /data ' /proc/mounts
        grep ' /dev/pts ' /proc/mounts
        cat /ro/hello; echo
        touch /ro/new 2>&1 || echo ro-write-failed
        echo x > /rw/written && echo rw-ok
        wc -c < /etc/secretfile
        ls /secret | wc -l
        echo 1 > /proc/sys/vm/overcommit_memory 2>&1 || echo procsys-ro
        touch /rootfile 2>&1 || echo root-ro
        ls -l /dev/mynull | cut -c1-10
        echo y > /dev/mynull && echo dev-ok
        readlink /dev/fd; readlink /dev/stdin; readlink /dev/ptmx
    "#;
    let mut c = sh(script);
    c["root"]["readonly"] = json!(true);
    std::fs::create_dir_all(w.bundle.join("rootfs/secret")).unwrap();
    std::fs::write(w.bundle.join("rootfs/secret/key"), "k").unwrap();
    let mounts = c["mounts"].as_array_mut().unwrap();
    mounts.push(
        json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=755"]}),
    );
    mounts.push(json!({"destination": "/ro", "type": "bind", "source": host_dir, "options": ["bind", "ro"]}));
    mounts.push(json!({"destination": "/rw", "type": "bind", "source": host_dir, "options": ["rbind", "rw"]}));
    c["linux"]["maskedPaths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/secret"));
    c["linux"]["maskedPaths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/etc/secretfile"));
    std::fs::write(w.bundle.join("rootfs/etc/secretfile"), "top secret").unwrap();
    c["linux"]["devices"] = json!([{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 384, "uid": 0, "gid": 0}]);
    let out = w.run_ok(&c, "m");
    assert!(
        out.contains("tmpfs /data tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k,mode=755"),
        "{out}"
    );
    assert!(out.contains("ptmxmode=666"), "{out}");
    assert!(out.contains("from-host\n"), "{out}");
    assert!(
        out.contains("ro-write-failed") || out.contains("Read-only file system"),
        "{out}"
    );
    assert!(out.contains("rw-ok"), "{out}");
    assert_eq!(
        std::fs::read_to_string(host_dir.join("written")).unwrap(),
        "x\n"
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.contains(&"0"),
        "masked /etc/secretfile reads empty and /secret lists nothing: {out}"
    );
    assert!(
        out.contains("procsys-ro") || out.contains("Read-only"),
        "{out}"
    );
    assert!(
        out.contains("root-ro") || out.contains("Read-only file system"),
        "{out}"
    );
    assert!(out.contains("crw-------"), "{out}");
    assert!(out.contains("dev-ok"), "{out}");
    assert!(
        out.contains("/proc/self/fd\n/proc/self/fd/0\npts/ptmx"),
        "{out}"
    );
}

#[test]
fn no_pivot_and_propagation() {
    if !ready() {
        return;
    }
    let w = World::new("nopivot");
    let mut c = sh("cat /proc/self/mountinfo | grep ' / / ' | head -1; echo done");
    c["linux"]["rootfsPropagation"] = json!("private");
    w.write_config(&c);
    let id = w.id("np");
    let o = w
        .cmd()
        .args(["run", "--no-pivot", "--bundle"])
        .arg(&w.bundle)
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("done"));
    let root_line = out.lines().next().unwrap_or("");
    assert!(
        !root_line.contains("shared:") && !root_line.contains("master:"),
        "private root: {root_line}"
    );
}

/// `linux.devices` may list FIFOs: the node is made, and no device cgroup rule is derived from
/// it (only block and character devices are cgroup rules).
#[test]
fn fifo_in_linux_devices() {
    if !ready() {
        return;
    }
    let w = World::new("fifo");
    let mut c = sh("test -p /dev/myfifo && echo fifo; stat -c %a /dev/myfifo");
    c["linux"]["devices"] = json!([
        {"path": "/dev/myfifo", "type": "p", "major": 0, "minor": 0, "fileMode": 416}
    ]);
    let out = w.run_ok(&c, "f");
    assert_eq!(out, "fifo\n640\n");
}

/// `rootfsPropagation: unbindable` (and `runbindable`) work, as with runc: the container's root
/// mount is unbindable (with the default masked and read-only paths, which bind mounts).
#[test]
fn unbindable_root() {
    if !ready() {
        return;
    }
    let w = World::new("unbind");
    for (i, p) in ["unbindable", "runbindable"].iter().enumerate() {
        // The root mount: the line whose fifth field (mount point) is "/".
        let mut c = sh("awk '$5 == \"/\"' /proc/self/mountinfo");
        c["linux"]["rootfsPropagation"] = json!(p);
        let out = w.run_ok(&c, &format!("u{i}"));
        assert!(out.contains("unbindable"), "{p}: {out}");
    }
}

//! The CNI contract as plugins see it, with recording shell-script plugins (no root needed):
//! environment, stdin config with name/cniVersion/prevResult chaining, the result cache, DEL in
//! reverse order with the cached result and an empty CNI_NETNS when the namespace is gone,
//! CNI error objects, cleanup after a failed ADD, missing plugins and timeouts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nodelet::cni::{Cni, CniError, PodNetwork};
use serde_json::{Value, json};

struct Env {
    _t: tempfile::TempDir,
    conf: PathBuf,
    bin: PathBuf,
    rec: PathBuf,
    cache: PathBuf,
    netns: PathBuf,
}

/// A plugin that records its env and stdin as `<rec>/<seq>-<COMMAND>-<name>.{env,stdin}` and,
/// on ADD, prints a result with address `10.1.0.<num>/24` on eth0.
fn plugin(env: &Env, name: &str, num: u8) {
    let script = format!(
        r#"#!/bin/sh
d={rec}
n=$(ls "$d" | wc -l)
f="$d/$(printf %03d "$n")-$CNI_COMMAND-{name}"
cat > "$f.stdin"
env | grep '^CNI_' | sort > "$f.env"
if [ "$CNI_COMMAND" = ADD ]; then
  printf '{{"cniVersion":"1.0.0","interfaces":[{{"name":"eth0","sandbox":"%s"}}],"ips":[{{"address":"10.1.0.{num}/24","interface":0}}]}}' "$CNI_NETNS"
fi
"#,
        rec = env.rec.display()
    );
    write_exec(&env.bin.join(name), &script);
}

fn write_exec(p: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(p, text).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn setup(plugins: &[&str], version: &str) -> Env {
    let t = tempfile::tempdir().unwrap();
    let p = |n: &str| {
        let d = t.path().join(n);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let env = Env {
        conf: p("conf"),
        bin: p("bin"),
        rec: p("rec"),
        cache: t.path().join("cache"),
        netns: t.path().join("netns-file"),
        _t: t,
    };
    std::fs::write(&env.netns, "").unwrap();
    let list = json!({
        "cniVersion": version,
        "name": "testnet",
        "plugins": plugins.iter().map(|p| json!({"type": p, "extra": p})).collect::<Vec<_>>(),
    });
    std::fs::write(env.conf.join("10-test.conflist"), list.to_string()).unwrap();
    std::fs::write(env.conf.join("20-ignored.conf"), "not even json").unwrap();
    env
}

fn pod(env: &Env, netns: Option<&Path>) -> PodNetwork {
    let _ = env;
    PodNetwork {
        container_id: "sb-abc".into(),
        netns: netns.map(Path::to_path_buf),
        pod_name: "web-node1".into(),
        pod_namespace: "default".into(),
        pod_uid: "uid-1".into(),
        ifname: "eth0".into(),
        port_mappings: vec![],
    }
}

fn cni(env: &Env) -> Cni {
    Cni::new(
        &env.conf,
        &[PathBuf::from("/nonexistent"), env.bin.clone()],
        &env.cache,
    )
}

/// One recorded call: (command, plugin, CNI_* environment, stdin JSON).
type Record = (String, String, Vec<(String, String)>, Value);

/// Recorded calls in order.
fn records(env: &Env) -> Vec<Record> {
    let mut names: Vec<String> = std::fs::read_dir(&env.rec)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".stdin"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|n| {
            let stem = n.trim_end_matches(".stdin");
            let mut parts = stem.splitn(3, '-');
            let _seq = parts.next();
            let cmd = parts.next().unwrap().to_string();
            let plugin = parts.next().unwrap().to_string();
            let stdin: Value =
                serde_json::from_slice(&std::fs::read(env.rec.join(n)).unwrap()).unwrap();
            let envs = std::fs::read_to_string(env.rec.join(format!("{stem}.env")))
                .unwrap()
                .lines()
                .map(|l| {
                    let (k, v) = l.split_once('=').unwrap();
                    (k.to_string(), v.to_string())
                })
                .collect();
            (cmd, plugin, envs, stdin)
        })
        .collect()
}

fn get<'a>(envs: &'a [(String, String)], k: &str) -> &'a str {
    envs.iter()
        .find(|(x, _)| x == k)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("{k} not set: {envs:?}"))
}

#[tokio::test]
async fn add_chains_and_del_reverses_with_cached_result() {
    let env = setup(&["pa", "pb"], "1.0.0");
    plugin(&env, "pa", 1);
    plugin(&env, "pb", 2);
    let c = cni(&env);
    let a = c.add(&pod(&env, Some(&env.netns))).await.unwrap();
    assert_eq!(a.network_name, "testnet");
    assert_eq!(
        a.pod_ip(),
        Some("10.1.0.2".parse().unwrap()),
        "the last plugin's result"
    );
    let r = records(&env);
    assert_eq!(r.len(), 2);
    let (cmd, p, e, stdin) = &r[0];
    assert_eq!((cmd.as_str(), p.as_str()), ("ADD", "pa"));
    assert_eq!(get(e, "CNI_CONTAINERID"), "sb-abc");
    assert_eq!(get(e, "CNI_IFNAME"), "eth0");
    assert_eq!(get(e, "CNI_NETNS"), env.netns.display().to_string());
    assert_eq!(
        get(e, "CNI_ARGS"),
        "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-node1;\
         K8S_POD_INFRA_CONTAINER_ID=sb-abc;K8S_POD_UID=uid-1"
    );
    assert_eq!(
        get(e, "CNI_PATH"),
        format!("/nonexistent:{}", env.bin.display())
    );
    assert_eq!(stdin["name"], "testnet");
    assert_eq!(stdin["cniVersion"], "1.0.0");
    assert_eq!(stdin["type"], "pa");
    assert_eq!(stdin["extra"], "pa");
    assert!(
        stdin.get("prevResult").is_none(),
        "first plugin has no prevResult"
    );
    let (_, p, _, stdin) = &r[1];
    assert_eq!(p, "pb");
    assert_eq!(
        stdin["prevResult"]["ips"][0]["address"], "10.1.0.1/24",
        "chained"
    );

    // Cached: the result is readable back (agent restart) and the config is kept.
    let cache = env.cache.join("sb-abc-eth0.json");
    let cached: Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    assert_eq!(cached["kind"], "cniCacheV1");
    assert_eq!(cached["result"]["ips"][0]["address"], "10.1.0.2/24");
    let again = c.cached("sb-abc", "eth0").unwrap().unwrap();
    assert_eq!(again.pod_ip(), a.pod_ip());

    // The configuration directory changes: DEL still uses what ADD used.
    std::fs::remove_file(env.conf.join("10-test.conflist")).unwrap();
    // The namespace is gone: CNI_NETNS is empty.
    let gone = env.netns.with_file_name("gone");
    c.del(&pod(&env, Some(&gone))).await.unwrap();
    let r = records(&env);
    assert_eq!(r.len(), 4);
    for (i, plugin) in [(2, "pb"), (3, "pa")] {
        let (cmd, p, e, stdin) = &r[i];
        assert_eq!((cmd.as_str(), p.as_str()), ("DEL", plugin), "reverse order");
        assert_eq!(get(e, "CNI_NETNS"), "");
        assert_eq!(
            stdin["prevResult"]["ips"][0]["address"], "10.1.0.2/24",
            "DEL gets the cached final result"
        );
    }
    assert!(!cache.exists(), "cache entry removed after DEL");
    assert!(c.cached("sb-abc", "eth0").unwrap().is_none());
    // Nothing cached, no usable configuration (the remaining file is invalid): an error
    // naming the file; with no configuration at all, DEL is a no-op.
    let e = c.del(&pod(&env, None)).await.unwrap_err().to_string();
    assert!(e.contains("20-ignored.conf"), "{e}");
    std::fs::remove_file(env.conf.join("20-ignored.conf")).unwrap();
    c.del(&pod(&env, None)).await.unwrap();
}

#[tokio::test]
async fn old_versions_get_no_prev_result_on_del_and_single_conf_works() {
    let env = setup(&["pa"], "0.3.1");
    std::fs::remove_file(env.conf.join("10-test.conflist")).unwrap();
    std::fs::remove_file(env.conf.join("20-ignored.conf")).unwrap();
    std::fs::write(
        env.conf.join("05-single.conf"),
        r#"{"cniVersion":"0.3.1","name":"one","type":"pa"}"#,
    )
    .unwrap();
    plugin(&env, "pa", 7);
    let c = cni(&env);
    let a = c.add(&pod(&env, Some(&env.netns))).await.unwrap();
    assert_eq!(
        (a.network_name.as_str(), a.pod_ip()),
        ("one", Some("10.1.0.7".parse().unwrap()))
    );
    c.del(&pod(&env, Some(&env.netns))).await.unwrap();
    let r = records(&env);
    assert_eq!(r[1].0, "DEL");
    assert_eq!(r[1].3["name"], "one");
    assert!(
        r[1].3.get("prevResult").is_none(),
        "no prevResult on DEL before 0.4.0"
    );
}

#[tokio::test]
async fn plugin_errors_are_reported_and_add_is_undone() {
    let env = setup(&["pa", "fail"], "1.1.0");
    plugin(&env, "pa", 1);
    write_exec(
        &env.bin.join("fail"),
        &format!(
            "#!/bin/sh\ncat >/dev/null\n[ \"$CNI_COMMAND\" = DEL ] && {{ touch {}/fail-del; exit 0; }}\n\
             echo '{{\"cniVersion\":\"1.1.0\",\"code\":11,\"msg\":\"no more addresses\",\"details\":\"pool 10.1.0.0/24\"}}'\nexit 1\n",
            env.rec.display()
        ),
    );
    let c = cni(&env);
    let e = c.add(&pod(&env, Some(&env.netns))).await.unwrap_err();
    match &e {
        CniError::Plugin {
            plugin,
            command,
            code,
            msg,
            details,
        } => {
            assert_eq!(
                (
                    plugin.as_str(),
                    command.as_str(),
                    *code,
                    msg.as_str(),
                    details.as_str()
                ),
                ("fail", "ADD", 11, "no more addresses", "pool 10.1.0.0/24")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("code 11: no more addresses"), "{e}");
    // Cleanup DEL ran for every plugin, in reverse order; nothing cached.
    assert!(env.rec.join("fail-del").exists());
    let r = records(&env);
    assert_eq!(
        r.last().map(|x| (x.0.as_str(), x.1.as_str())),
        Some(("DEL", "pa"))
    );
    assert!(!env.cache.join("sb-abc-eth0.json").exists());

    // A plugin without a CNI error object: exit status and stderr.
    write_exec(&env.bin.join("fail"), "#!/bin/sh\necho boom >&2\nexit 3\n");
    let e = c
        .add(&pod(&env, Some(&env.netns)))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("fail ADD failed") && e.contains("boom"), "{e}");

    // Missing plugin, missing netns, timeout.
    std::fs::remove_file(env.bin.join("fail")).unwrap();
    let e = c.add(&pod(&env, Some(&env.netns))).await.unwrap_err();
    assert!(
        matches!(e, CniError::PluginNotFound { ref plugin, .. } if plugin == "fail"),
        "{e}"
    );
    let e = c.add(&pod(&env, None)).await.unwrap_err().to_string();
    assert!(e.starts_with("CNI_NETNS: "), "{e}");
    write_exec(&env.bin.join("fail"), "#!/bin/sh\nexec sleep 5\n");
    let mut c2 = c.clone();
    c2.timeout = Duration::from_millis(300);
    let t0 = std::time::Instant::now();
    let e = c2.add(&pod(&env, Some(&env.netns))).await.unwrap_err();
    assert!(matches!(e, CniError::Timeout { .. }), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn bad_pod_identifiers_are_refused() {
    let env = setup(&["pa"], "1.0.0");
    plugin(&env, "pa", 1);
    let c = cni(&env);
    let mut p = pod(&env, Some(&env.netns));
    p.container_id = "../etc".into();
    let e = c.add(&p).await.unwrap_err().to_string();
    assert!(e.starts_with("CNI container id: "), "{e}");
    let mut p = pod(&env, Some(&env.netns));
    p.pod_name = "a;b".into();
    let e = c.add(&p).await.unwrap_err().to_string();
    assert!(e.contains("K8S_POD_NAME"), "{e}");
    assert!(records(&env).is_empty(), "no plugin ran");
}

//! The static pod source on a real directory: inotify, settling, rescans, last-good rule.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nodelet::source::{Snapshot, SourceOptions, StaticPodSource};
use nodelet_objects::manifest::{StaticPod, parse_manifest};

const NODE: &str = "n1";

fn pod_yaml(name: &str, image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: app\n    image: {image}\n"
    )
}

struct Harness {
    dir: tempfile::TempDir,
    src: StaticPodSource,
    rt: tokio::runtime::Runtime,
}

fn options(dir: &Path) -> SourceOptions {
    SourceOptions {
        dir: dir.to_path_buf(),
        node_name: NODE.into(),
        // Long: these tests must pass on inotify alone.
        rescan_period: Duration::from_secs(60),
        settle: Duration::from_millis(50),
        open_write_timeout: Duration::from_secs(2),
        inotify: true,
    }
}

impl Harness {
    fn start() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        Harness::start_in(dir, |o| o, Vec::new())
    }

    fn start_in(
        dir: tempfile::TempDir,
        tweak: impl FnOnce(SourceOptions) -> SourceOptions,
        seed: Vec<StaticPod>,
    ) -> Harness {
        let src = StaticPodSource::start(tweak(options(dir.path())), seed).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        Harness { dir, src, rt }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, content: &str) {
        std::fs::write(self.path(name), content).unwrap();
    }

    /// Waits (3 s at most) for a snapshot satisfying `pred`.
    fn wait(&self, what: &str, pred: impl Fn(&Snapshot) -> bool) -> Arc<Snapshot> {
        let mut rx = self.src.subscribe();
        let res = self.rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(3), rx.wait_for(|s| pred(s)))
                .await
                .map(|r| r.map(|s| s.clone()))
        });
        match res {
            Ok(Ok(s)) => s,
            _ => panic!(
                "timed out waiting for {what}; last snapshot: {:#?}",
                self.src.snapshot()
            ),
        }
    }
}

fn names(s: &Snapshot) -> Vec<String> {
    let mut v: Vec<String> = s.pods().map(|p| p.name().to_string()).collect();
    v.sort();
    v
}

fn image(p: &StaticPod) -> &str {
    p.pod.spec.as_ref().unwrap().containers[0]
        .image
        .as_deref()
        .unwrap()
}

#[test]
fn add_edit_remove() {
    let h = Harness::start();
    assert!(h.src.snapshot().files.is_empty());
    h.write("web.yaml", &pod_yaml("web", "busybox:1"));
    let s = h.wait("web added", |s| names(s) == ["web-n1"]);
    let uid1 = s.pods().next().unwrap().uid().to_string();
    assert_eq!(s.file(&h.path("web.yaml")).unwrap().error, None);

    h.write("web.yaml", &pod_yaml("web", "busybox:2"));
    let s = h.wait("web edited", |s| s.pods().any(|p| image(p) == "busybox:2"));
    assert_eq!(names(&s), ["web-n1"]);
    let uid2 = s.pods().next().unwrap().uid().to_string();
    assert_ne!(uid1, uid2, "an edit is a new pod");
    assert!(s.pod_by_uid(&uid1).is_none(), "the old version is gone");

    std::fs::remove_file(h.path("web.yaml")).unwrap();
    let s = h.wait("web removed", |s| s.files.is_empty());
    assert_eq!(s.pods().count(), 0);
}

#[test]
fn invalid_file_keeps_last_good_and_never_disturbs_others() {
    let h = Harness::start();
    h.write("a.yaml", &pod_yaml("a", "busybox:1"));
    h.write("b.yaml", &pod_yaml("b", "busybox:1"));
    let s = h.wait("a and b", |s| names(s) == ["a-n1", "b-n1"]);
    let uid_a = s
        .pods()
        .find(|p| p.name() == "a-n1")
        .unwrap()
        .uid()
        .to_string();
    let uid_b = s
        .pods()
        .find(|p| p.name() == "b-n1")
        .unwrap()
        .uid()
        .to_string();

    // a turns invalid: its last good version stays, the error is shown beside it.
    h.write("a.yaml", &pod_yaml("a", "''"));
    let s = h.wait("a invalid", |s| s.errors().count() == 1);
    let a = s.file(&h.path("a.yaml")).unwrap();
    assert_eq!(a.pods.len(), 1);
    assert_eq!(a.pods[0].uid(), uid_a, "last good version kept");
    let err = a.error.as_ref().unwrap().to_string();
    assert_eq!(
        err,
        format!(
            "{}: spec.containers[0].image: Required value",
            h.path("a.yaml").display()
        )
    );
    assert!(s.pod_by_uid(&uid_b).is_some(), "b untouched");

    // A new invalid file: reported, no pods, others untouched.
    h.write(
        "c.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: c}\nspec: {containers: [{name: x}]}\n",
    );
    let s = h.wait("c reported", |s| s.errors().count() == 2);
    assert_eq!(s.file(&h.path("c.yaml")).unwrap().pods.len(), 0);
    assert!(s.pod_by_uid(&uid_a).is_some() && s.pod_by_uid(&uid_b).is_some());

    // Fixing a replaces it with the new version and clears the error.
    h.write("a.yaml", &pod_yaml("a", "busybox:3"));
    let s = h.wait("a fixed", |s| s.pods().any(|p| image(p) == "busybox:3"));
    let a = s.file(&h.path("a.yaml")).unwrap();
    assert_eq!(a.error, None);
    assert_ne!(a.pods[0].uid(), uid_a);
    assert!(s.pod_by_uid(&uid_b).is_some());

    // Removing an invalid file clears its error.
    std::fs::remove_file(h.path("c.yaml")).unwrap();
    h.wait("c gone", |s| s.errors().count() == 0 && s.files.len() == 2);
}

#[test]
fn mid_write_file_is_read_only_when_complete() {
    let h = Harness::start();
    let full = pod_yaml("slow", "busybox:1");
    let (first, rest) = full.split_at(full.len() / 2);
    let mut f = std::fs::File::create(h.path("slow.yaml")).unwrap();
    f.write_all(first.as_bytes()).unwrap();
    f.flush().unwrap();
    // Longer than the settle delay: a reader that only waited for quiet would see half a file.
    std::thread::sleep(Duration::from_millis(400));
    let s = h.src.snapshot();
    assert!(
        s.file(&h.path("slow.yaml")).is_none(),
        "half a file was reported: {s:#?}"
    );
    f.write_all(rest.as_bytes()).unwrap();
    drop(f);
    let s = h.wait("complete file", |s| names(s) == ["slow-n1"]);
    assert_eq!(s.errors().count(), 0);
    assert_eq!(
        s.generation, 2,
        "exactly one change was published after the initial snapshot"
    );
}

#[test]
fn a_file_is_read_once_per_change() {
    let h = Harness::start();
    h.write("web.yaml", &pod_yaml("web", "busybox:1"));
    h.wait("web", |s| names(s) == ["web-n1"]);
    // Our own reads cause inotify open/close events; they must not cause more reads.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(h.src.manifest_reads(), 1);
    h.write("web.yaml", &pod_yaml("web", "busybox:2"));
    h.wait("edit", |s| s.pods().any(|p| image(p) == "busybox:2"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(h.src.manifest_reads(), 2);
}

#[test]
fn rename_into_directory_is_picked_up_at_once() {
    let h = Harness::start();
    let staging = tempfile::tempdir().unwrap();
    let tmp = staging.path().join("web.yaml");
    std::fs::write(&tmp, pod_yaml("web", "busybox:1")).unwrap();
    let t0 = Instant::now();
    std::fs::rename(&tmp, h.path("web.yaml")).unwrap();
    h.wait("renamed-in pod", |s| names(s) == ["web-n1"]);
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t0.elapsed()
    );
}

#[test]
fn editor_save_by_rename_keeps_the_pod() {
    // vim's default save: rename the file to a backup, write a new file, delete the backup.
    let h = Harness::start();
    h.write("web.yaml", &pod_yaml("web", "busybox:1"));
    let s = h.wait("web", |s| names(s) == ["web-n1"]);
    let uid = s.pods().next().unwrap().uid().to_string();
    let generation = s.generation;
    std::fs::rename(h.path("web.yaml"), h.path("web.yaml~")).unwrap();
    h.write("web.yaml", &pod_yaml("web", "busybox:1"));
    std::fs::remove_file(h.path("web.yaml~")).unwrap();
    // A later change proves the events above were all processed.
    h.write("z.yaml", &pod_yaml("z", "busybox:1"));
    let s = h.wait("z", |s| names(s) == ["web-n1", "z-n1"]);
    assert_eq!(s.pods().find(|p| p.name() == "web-n1").unwrap().uid(), uid);
    assert_eq!(
        s.generation,
        generation + 1,
        "the unchanged web.yaml published nothing"
    );
}

#[test]
fn ignored_files() {
    let h = Harness::start();
    let valid = pod_yaml("x", "busybox:1");
    for name in [
        ".x.yaml",
        "x.yaml~",
        "x.yaml.bak",
        "x.yaml.swp",
        ".x.yaml.swp",
        "#x.yaml#",
        "4913",
        "x.txt",
    ] {
        h.write(name, &valid);
    }
    std::fs::create_dir(h.path("sub")).unwrap();
    std::fs::write(h.path("sub/y.yaml"), pod_yaml("y", "busybox:1")).unwrap();
    std::fs::create_dir(h.path("d.yaml")).unwrap();
    nix::unistd::mkfifo(
        &h.path("fifo.yaml"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    std::os::unix::fs::symlink("/nonexistent", h.path("dangling.yaml")).unwrap();
    // A symlink to a regular file is read (ConfigMap-style directories use them).
    let target = h.path("sub/linked.txt");
    std::fs::write(&target, pod_yaml("linked", "busybox:1")).unwrap();
    std::os::unix::fs::symlink(&target, h.path("linked.yaml")).unwrap();
    h.write("z.yaml", &pod_yaml("z", "busybox:1"));
    let s = h.wait("z", |s| {
        names(s).contains(&"z-n1".to_string()) && names(s).contains(&"linked-n1".to_string())
    });
    assert_eq!(names(&s), ["linked-n1", "z-n1"]);
    assert_eq!(s.errors().count(), 0, "{s:#?}");

    // The same holds for the files present at start-up.
    let dir = h.dir;
    drop(h.src);
    let h2 = Harness::start_in(dir, |o| o, Vec::new());
    assert_eq!(names(&h2.src.snapshot()), ["linked-n1", "z-n1"]);
}

#[test]
fn multi_document_file_and_duplicates_across_files() {
    let h = Harness::start();
    h.write("a.yaml", &pod_yaml("web", "busybox:1"));
    h.wait("a", |s| names(s) == ["web-n1"]);
    h.write(
        "both.yaml",
        &format!(
            "{}---\n{}",
            pod_yaml("p1", "busybox:1"),
            pod_yaml("p2", "busybox:1")
        ),
    );
    h.wait("both", |s| names(s) == ["p1-n1", "p2-n1", "web-n1"]);
    // b.yaml declares a pod a.yaml already runs: b is in error, a keeps its pod.
    h.write("b.yaml", &pod_yaml("web", "busybox:2"));
    let s = h.wait("b duplicate", |s| s.errors().count() == 1);
    let e = s
        .file(&h.path("b.yaml"))
        .unwrap()
        .error
        .as_ref()
        .unwrap()
        .to_string();
    assert!(
        e.contains(
            "metadata.name: Duplicate value: \"web-n1\": pod default/web-n1 is already declared by"
        ),
        "{e}"
    );
    assert!(
        s.pods()
            .any(|p| p.name() == "web-n1" && image(p) == "busybox:1")
    );
    // Once a.yaml goes, b.yaml's pod takes over.
    std::fs::remove_file(h.path("a.yaml")).unwrap();
    let s = h.wait("b takes over", |s| {
        s.pods()
            .any(|p| p.name() == "web-n1" && image(p) == "busybox:2")
    });
    assert_eq!(s.errors().count(), 0);
}

#[test]
fn rescan_alone_catches_changes() {
    // Without inotify, only the periodic rescan sees changes.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("old.yaml"), pod_yaml("old", "busybox:1")).unwrap();
    let h = Harness::start_in(
        dir,
        |o| SourceOptions {
            inotify: false,
            rescan_period: Duration::from_millis(100),
            ..o
        },
        Vec::new(),
    );
    assert_eq!(
        names(&h.src.snapshot()),
        ["old-n1"],
        "initial scan before start returns"
    );
    h.write("web.yaml", &pod_yaml("web", "busybox:1"));
    h.wait("rescan add", |s| names(s) == ["old-n1", "web-n1"]);
    h.write("web.yaml", &pod_yaml("web", "busybox:2"));
    h.wait("rescan edit", |s| s.pods().any(|p| image(p) == "busybox:2"));
    std::fs::remove_file(h.path("old.yaml")).unwrap();
    let s = h.wait("rescan remove", |s| names(s) == ["web-n1"]);
    // Every rescan re-reads unchanged files too (size and timestamps can hide a change), but
    // publishes nothing for the same content.
    let reads = h.src.manifest_reads();
    std::thread::sleep(Duration::from_millis(450));
    assert!(
        h.src.manifest_reads() >= reads + 2,
        "{} reads after {reads}",
        h.src.manifest_reads()
    );
    assert_eq!(h.src.snapshot().generation, s.generation);
}

#[test]
fn missing_directory_is_reported_and_picked_up_later() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("manifests");
    let opts = SourceOptions {
        rescan_period: Duration::from_millis(100),
        ..options(&dir)
    };
    let src = StaticPodSource::start(opts, Vec::new()).unwrap();
    let s = src.snapshot();
    assert!(
        s.dir_error
            .as_deref()
            .unwrap()
            .contains("cannot list the static pod path"),
        "{s:?}"
    );
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("web.yaml"), pod_yaml("web", "busybox:1")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut rx = src.subscribe();
    let s = rt
        .block_on(async {
            tokio::time::timeout(
                Duration::from_secs(3),
                rx.wait_for(|s| s.pods().count() == 1),
            )
            .await
            .map(|r| r.map(|s| s.clone()))
        })
        .expect("pod after the directory appeared")
        .unwrap();
    assert_eq!(s.dir_error, None);
    std::fs::write(dir.join("b.yaml"), pod_yaml("b", "busybox:1")).unwrap();
    let found = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(3),
            rx.wait_for(|s| s.pods().count() == 2),
        )
        .await
        .is_ok()
    });
    assert!(found, "second pod");
}

#[test]
fn seeded_pods_survive_an_invalid_file_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.yaml");
    let gone = dir.path().join("gone.yaml");
    let good = dir.path().join("good.yaml");
    let seed_a = parse_manifest(
        &a,
        pod_yaml("a", "busybox:1").as_bytes(),
        NODE,
        jiff::Timestamp::now(),
    )
    .unwrap();
    let seed_gone = parse_manifest(
        &gone,
        pod_yaml("gone", "busybox:1").as_bytes(),
        NODE,
        jiff::Timestamp::now(),
    )
    .unwrap();
    let seed_good = parse_manifest(
        &good,
        pod_yaml("good", "busybox:1").as_bytes(),
        NODE,
        jiff::Timestamp::now(),
    )
    .unwrap();
    std::fs::write(
        &a,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: app}]}\n",
    )
    .unwrap();
    std::fs::write(&good, pod_yaml("good", "busybox:1")).unwrap();
    let seeds = [seed_a.clone(), seed_gone, seed_good.clone()].concat();
    let h = Harness::start_in(dir, |o| o, seeds);
    let s = h.src.snapshot();
    assert_eq!(names(&s), ["a-n1", "good-n1"]);
    let fa = s.file(&a).unwrap();
    assert_eq!(
        fa.pods[0].uid(),
        seed_a[0].uid(),
        "seeded version kept while the file is invalid"
    );
    assert!(fa.error.is_some());
    let fg = s.file(&good).unwrap();
    assert_eq!(
        fg.pods[0].uid(),
        seed_good[0].uid(),
        "same content, same UID"
    );
    assert_eq!(
        fg.pods[0].seen(),
        seed_good[0].seen(),
        "the seeded pod object is kept"
    );
}

#[test]
fn immutable_config_map_edits_are_refused_keeping_the_last_good() {
    use nodelet_objects::workload::Object;
    let h = Harness::start();
    let cm = |v: &str, immutable: bool| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: frozen\nimmutable: {immutable}\ndata:\n  v: {v}\n"
        )
    };
    let value = |s: &Snapshot| {
        s.objects()
            .find_map(|o| match &o.object {
                Object::ConfigMap(c) => c.data.as_ref().and_then(|d| d.get("v")).cloned(),
                _ => None,
            })
            .unwrap_or_default()
    };
    // A mutable object may change and may become immutable.
    h.write("cm.yaml", &cm("one", false));
    h.wait("one", |s| value(s) == "one");
    h.write("cm.yaml", &cm("two", true));
    h.wait("two", |s| value(s) == "two");
    // Then its data stays.
    h.write("cm.yaml", &cm("three", true));
    let s = h.wait("refused", |s| {
        s.file(&h.path("cm.yaml"))
            .is_some_and(|f| f.error.is_some())
    });
    let err = s.file(&h.path("cm.yaml")).unwrap().error.clone().unwrap();
    assert!(
        err.to_string()
            .contains("data: Forbidden: field is immutable when `immutable` is set"),
        "{err}"
    );
    assert_eq!(value(&s), "two", "the version in force stays");
    // Deleting it (the file) and declaring it anew is allowed, as on a cluster.
    std::fs::remove_file(h.path("cm.yaml")).unwrap();
    h.wait("gone", |s| s.files.is_empty());
    h.write("cm.yaml", &cm("three", true));
    h.wait("three", |s| value(s) == "three");
}

//! The image config + Kubernetes container merge rules and user resolution.

use nodelet_images::manifest::RunConfig;
use nodelet_images::process::{
    ContainerOverrides, DEFAULT_PATH, MergeError, ResolvedUser, UserSpec, merge, resolve_user,
};

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn image() -> RunConfig {
    RunConfig {
        user: Some("web".into()),
        env: Some(s(&["PATH=/usr/bin:/bin", "A=image", "B=image"])),
        entrypoint: Some(s(&["/entry", "--flag"])),
        cmd: Some(s(&["default-arg"])),
        working_dir: Some("/srv".into()),
        ..Default::default()
    }
}

#[test]
fn neither_command_nor_args_uses_entrypoint_and_cmd() {
    let p = merge(Some(&image()), &ContainerOverrides::default()).unwrap();
    assert_eq!(p.args, s(&["/entry", "--flag", "default-arg"]));
    assert_eq!(p.cwd, "/srv");
    assert_eq!(
        p.user,
        UserSpec {
            user: "web".into(),
            group: None
        }
    );
}

#[test]
fn command_replaces_entrypoint_and_drops_cmd() {
    let c = ContainerOverrides {
        command: s(&["/bin/sh", "-c"]),
        ..Default::default()
    };
    assert_eq!(
        merge(Some(&image()), &c).unwrap().args,
        s(&["/bin/sh", "-c"])
    );
    let c = ContainerOverrides {
        command: s(&["/bin/sh", "-c"]),
        args: s(&["echo hi"]),
        ..Default::default()
    };
    assert_eq!(
        merge(Some(&image()), &c).unwrap().args,
        s(&["/bin/sh", "-c", "echo hi"])
    );
}

#[test]
fn args_replace_cmd_keeping_entrypoint() {
    let c = ContainerOverrides {
        args: s(&["x", "y"]),
        ..Default::default()
    };
    assert_eq!(
        merge(Some(&image()), &c).unwrap().args,
        s(&["/entry", "--flag", "x", "y"])
    );
    let mut img = image();
    img.entrypoint = None;
    assert_eq!(merge(Some(&img), &c).unwrap().args, s(&["x", "y"]));
}

#[test]
fn env_merges_with_pod_winning_in_place() {
    let c = ContainerOverrides {
        env: vec![("B".into(), "pod".into()), ("C".into(), "pod".into())],
        ..Default::default()
    };
    assert_eq!(
        merge(Some(&image()), &c).unwrap().env,
        s(&["PATH=/usr/bin:/bin", "A=image", "B=pod", "C=pod"])
    );
    let mut img = image();
    img.env = None;
    assert_eq!(
        merge(Some(&img), &c).unwrap().env,
        vec![
            format!("PATH={DEFAULT_PATH}"),
            "B=pod".into(),
            "C=pod".into()
        ]
    );
}

#[test]
fn working_dir_and_user_overrides() {
    let c = ContainerOverrides {
        working_dir: Some("/work".into()),
        run_as_user: Some(1234),
        run_as_group: Some(99),
        ..Default::default()
    };
    let p = merge(Some(&image()), &c).unwrap();
    assert_eq!(p.cwd, "/work");
    assert_eq!(
        p.user,
        UserSpec {
            user: "1234".into(),
            group: Some("99".into())
        }
    );
    let mut img = image();
    img.working_dir = None;
    img.user = Some("1000:web".into());
    let p = merge(Some(&img), &ContainerOverrides::default()).unwrap();
    assert_eq!(p.cwd, "/");
    assert_eq!(
        p.user,
        UserSpec {
            user: "1000".into(),
            group: Some("web".into())
        }
    );
    let c = ContainerOverrides {
        working_dir: Some("rel".into()),
        ..Default::default()
    };
    assert_eq!(
        merge(Some(&image()), &c),
        Err(MergeError::RelativeWorkingDir("rel".into()))
    );
}

#[test]
fn no_command_at_all_is_an_error() {
    assert_eq!(
        merge(None, &ContainerOverrides::default()),
        Err(MergeError::NoCommand)
    );
}

#[test]
fn users_resolve_against_the_image_files() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("etc")).unwrap();
    std::fs::write(
        d.path().join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\nweb:x:1000:1001::/home/web:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("etc/group"),
        "root:x:0:\nweb:x:1001:\nextra:x:2000:web,other\n",
    )
    .unwrap();
    let r = |u: &str, g: Option<&str>| {
        resolve_user(
            d.path(),
            &UserSpec {
                user: u.into(),
                group: g.map(Into::into),
            },
        )
    };
    assert_eq!(
        r("", None).unwrap(),
        ResolvedUser {
            uid: 0,
            gid: 0,
            additional_gids: vec![0]
        }
    );
    assert_eq!(
        r("web", None).unwrap(),
        ResolvedUser {
            uid: 1000,
            gid: 1001,
            additional_gids: vec![1001, 2000]
        }
    );
    assert_eq!(
        r("1000", Some("extra")).unwrap(),
        ResolvedUser {
            uid: 1000,
            gid: 2000,
            additional_gids: vec![2000]
        }
    );
    assert_eq!(
        r("4242", None).unwrap(),
        ResolvedUser {
            uid: 4242,
            gid: 0,
            additional_gids: vec![0]
        }
    );
    assert!(
        r("nobody-here", None)
            .unwrap_err()
            .to_string()
            .contains("no such user")
    );
    assert!(r("web", Some("nogroup")).is_err());
    // /etc/passwd as a symlink to an absolute path resolves inside the rootfs, not the host's.
    std::fs::rename(
        d.path().join("etc/passwd"),
        d.path().join("etc/passwd.real"),
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc/passwd.real", d.path().join("etc/passwd")).unwrap();
    assert_eq!(r("web", None).unwrap().uid, 1000);
}

#[test]
fn merged_process_goes_into_an_oci_spec() {
    let c = ContainerOverrides {
        args: s(&["x"]),
        env: vec![("B".into(), "pod".into())],
        ..Default::default()
    };
    let p = merge(Some(&image()), &c).unwrap();
    let mut proc = oci_spec::runtime::Process::default();
    let user = ResolvedUser {
        uid: 1000,
        gid: 1001,
        additional_gids: vec![2000],
    };
    p.apply_to(&mut proc, &user);
    assert_eq!(
        proc.args().as_deref(),
        Some(&s(&["/entry", "--flag", "x"])[..])
    );
    assert_eq!(
        proc.env().as_deref(),
        Some(&s(&["PATH=/usr/bin:/bin", "A=image", "B=pod"])[..])
    );
    assert_eq!(proc.cwd().to_str(), Some("/srv"));
    assert_eq!((proc.user().uid(), proc.user().gid()), (1000, 1001));
    assert_eq!(
        proc.user().additional_gids().as_deref(),
        Some(&[2000u32][..])
    );
}

//! Manifest parsing: defaulting, validation errors with exact field paths, naming and hashing.

use std::path::Path;

use nodelet_objects::manifest::{
    CONFIG_HASH_ANNOTATION, CONFIG_SEEN_ANNOTATION, CONFIG_SOURCE_ANNOTATION, StaticPod,
    parse_manifest,
};

const NODE: &str = "node-1";

fn seen() -> jiff::Timestamp {
    "2026-11-22T10:00:00Z".parse().unwrap()
}

fn parse(yaml: &str) -> Vec<StaticPod> {
    parse_manifest(Path::new("/m/pod.yaml"), yaml.as_bytes(), NODE, seen())
        .unwrap_or_else(|e| panic!("unexpected error: {e}"))
}

fn errors(yaml: &str) -> Vec<String> {
    match parse_manifest(Path::new("/m/pod.yaml"), yaml.as_bytes(), NODE, seen()) {
        Ok(p) => panic!("expected errors, got {} pods", p.len()),
        Err(e) => e.messages(),
    }
}

/// A valid pod with `extra` appended under the first container (indented 4 spaces).
fn pod_with_container(extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: app\n    image: busybox:1.36\n{extra}"
    )
}

const WEB: &str = "apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: app
    image: busybox
    ports:
    - containerPort: 80
      name: http
    livenessProbe:
      httpGet: {port: http}
    resources:
      limits: {cpu: 500m, memory: 64Mi}
";

#[test]
fn defaults_name_uid_and_annotations() {
    let pods = parse(WEB);
    assert_eq!(pods.len(), 1);
    let p = &pods[0];
    assert_eq!(p.name(), "web-node-1");
    assert_eq!(p.namespace(), "default");
    assert_eq!(p.full_name(), "default/web-node-1");
    assert_eq!(p.uid().len(), 32);
    assert!(p.uid().bytes().all(|c| c.is_ascii_hexdigit()));
    let ann = p.pod.metadata.annotations.as_ref().unwrap();
    assert_eq!(ann[CONFIG_HASH_ANNOTATION], p.uid());
    assert_eq!(ann[CONFIG_SOURCE_ANNOTATION], "file");
    assert_eq!(ann[CONFIG_SEEN_ANNOTATION], "2026-11-22T10:00:00Z");
    assert_eq!(p.seen(), "2026-11-22T10:00:00Z");
    assert_eq!(p.manifest, Path::new("/m/pod.yaml"));
    assert_eq!(p.document, 0);

    let spec = p.pod.spec.as_ref().unwrap();
    assert_eq!(spec.node_name.as_deref(), Some(NODE));
    assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
    assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirst"));
    assert_eq!(spec.termination_grace_period_seconds, Some(30));
    assert_eq!(spec.scheduler_name.as_deref(), Some("default-scheduler"));
    let tol = &spec.tolerations.as_ref().unwrap()[0];
    assert_eq!(tol.operator.as_deref(), Some("Exists"));
    assert_eq!(tol.effect.as_deref(), Some("NoExecute"));
    let c = &spec.containers[0];
    assert_eq!(
        c.image_pull_policy.as_deref(),
        Some("Always"),
        "no tag → Always"
    );
    assert_eq!(
        c.termination_message_path.as_deref(),
        Some("/dev/termination-log")
    );
    assert_eq!(c.termination_message_policy.as_deref(), Some("File"));
    assert_eq!(
        c.ports.as_ref().unwrap()[0].protocol.as_deref(),
        Some("TCP")
    );
    let probe = c.liveness_probe.as_ref().unwrap();
    assert_eq!(probe.timeout_seconds, Some(1));
    assert_eq!(probe.period_seconds, Some(10));
    assert_eq!(probe.success_threshold, Some(1));
    assert_eq!(probe.failure_threshold, Some(3));
    let get = probe.http_get.as_ref().unwrap();
    assert_eq!(get.path.as_deref(), Some("/"));
    assert_eq!(get.scheme.as_deref(), Some("HTTP"));
    let req = c.resources.as_ref().unwrap().requests.as_ref().unwrap();
    assert_eq!(req["cpu"].0, "500m", "requests default to limits");
    assert_eq!(req["memory"].0, "64Mi");
}

#[test]
fn more_defaults() {
    let pods = parse(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: db, namespace: infra}\nspec:\n  hostNetwork: true\n  restartPolicy: Never\n  terminationGracePeriodSeconds: 5\n  volumes:\n  - name: scratch\n  - name: h\n    hostPath: {path: /tmp}\n  containers:\n  - name: db\n    image: reg.local:5000/db:2\n    ports: [{containerPort: 5432}]\n    env:\n    - name: POD\n      valueFrom: {fieldRef: {fieldPath: metadata.name}}\n    volumeMounts: [{name: scratch, mountPath: /s}]\n",
    );
    let p = &pods[0];
    assert_eq!(p.name(), "db-node-1");
    assert_eq!(p.namespace(), "infra");
    let spec = p.pod.spec.as_ref().unwrap();
    assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
    assert_eq!(spec.termination_grace_period_seconds, Some(5));
    let c = &spec.containers[0];
    assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
    assert_eq!(
        c.ports.as_ref().unwrap()[0].host_port,
        Some(5432),
        "hostNetwork: hostPort = containerPort"
    );
    let env = &c.env.as_ref().unwrap()[0];
    let fr = env.value_from.as_ref().unwrap().field_ref.as_ref().unwrap();
    assert_eq!(fr.api_version.as_deref(), Some("v1"));
    let vols = spec.volumes.as_ref().unwrap();
    assert!(
        vols[0].empty_dir.is_some(),
        "a volume without a source is an emptyDir"
    );
    assert_eq!(
        vols[1].host_path.as_ref().unwrap().type_.as_deref(),
        Some("")
    );
}

#[test]
fn yaml_scalars_follow_kubernetes() {
    let pods = parse(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {n: n, on: yes}}\nspec:\n  volumes: [{name: c, configMap: {name: x, defaultMode: 0600}}]\n  containers: [{name: a, image: b, args: [n, off, '0644']}]\n",
    );
    let spec = pods[0].pod.spec.as_ref().unwrap();
    assert_eq!(
        spec.volumes.as_ref().unwrap()[0]
            .config_map
            .as_ref()
            .unwrap()
            .default_mode,
        Some(0o600)
    );
    assert_eq!(
        spec.containers[0].args.as_deref().unwrap(),
        ["n", "off", "0644"]
    );
    let labels = pods[0].pod.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["n"], "n");
    assert_eq!(labels["on"], "yes");
}

#[test]
fn uid_depends_on_node_path_and_content() {
    let a = &parse(WEB)[0];
    let again = &parse(WEB)[0];
    assert_eq!(a.uid(), again.uid(), "deterministic");
    let other_path =
        &parse_manifest(Path::new("/m/other.yaml"), WEB.as_bytes(), NODE, seen()).unwrap()[0];
    assert_ne!(a.uid(), other_path.uid());
    let other_node =
        &parse_manifest(Path::new("/m/pod.yaml"), WEB.as_bytes(), "node-2", seen()).unwrap()[0];
    assert_ne!(a.uid(), other_node.uid());
    assert_eq!(other_node.name(), "web-node-2");
    let edited = &parse(&WEB.replace("64Mi", "65Mi"))[0];
    assert_ne!(a.uid(), edited.uid());
    let reformatted = &parse(&format!("# a comment\n{WEB}\n\n"))[0];
    assert_eq!(
        a.uid(),
        reformatted.uid(),
        "comments and blank lines do not change the pod"
    );
    let later = &parse_manifest(
        Path::new("/m/pod.yaml"),
        WEB.as_bytes(),
        NODE,
        jiff::Timestamp::now(),
    )
    .unwrap()[0];
    assert_eq!(a.uid(), later.uid(), "config.seen is not part of the hash");
}

#[test]
fn json_and_multi_document_files() {
    let json = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}"#;
    let pods = parse_manifest(Path::new("/m/p.json"), json.as_bytes(), NODE, seen()).unwrap();
    assert_eq!(pods[0].name(), "j-node-1");

    let multi = format!(
        "---\n{WEB}---\n{}\n---\n",
        WEB.replace("name: web", "name: api")
    );
    let pods = parse(&multi);
    assert_eq!(pods.len(), 2);
    assert_eq!(pods[0].name(), "web-node-1");
    assert_eq!(pods[1].name(), "api-node-1");
    assert_eq!(pods[1].document, 1);

    let bad = format!("{WEB}---\n{}", WEB.replace("image: busybox", "image: ''"));
    assert_eq!(
        errors(&bad),
        ["document 2: spec.containers[0].image: Required value"]
    );
    let dup = format!("{WEB}---\n{WEB}");
    assert_eq!(
        errors(&dup),
        ["document 2: metadata.name: Duplicate value: \"web\": also declared by document 1"]
    );
}

#[test]
fn file_level_errors() {
    assert_eq!(errors(""), ["file is empty: no document"]);
    let e = errors("apiVersion: v1\nkind: Pod\nkind: Pod\n");
    assert_eq!(
        e,
        ["invalid YAML: duplicate mapping key: kind at line 3, column 1"]
    );
    assert_eq!(
        errors("# only a comment\n---\n"),
        ["file is empty: no document"]
    );
    let e = errors("apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n");
    assert!(e[0].starts_with("invalid YAML: "), "{e:?}");
    assert!(e[0].contains("line"), "{e:?}");
    let e = parse_manifest(Path::new("/m/x.yaml"), b"\xff\xfe", NODE, seen()).unwrap_err();
    assert!(
        e.to_string().starts_with("/m/x.yaml: not UTF-8 text"),
        "{e}"
    );
    assert_eq!(
        errors("just a string"),
        ["Invalid type: a manifest document must be an object"]
    );
    assert_eq!(
        errors("apiVersion: v1\nkind: Deployment\n"),
        ["apiVersion: Unsupported value: \"v1\": supported values: \"apps/v1\""]
    );
    assert_eq!(
        errors("apiVersion: apps/v1\nkind: Deployment\n"),
        ["metadata.name: Required value: name or generateName is required"]
    );
    assert_eq!(
        errors("apiVersion: v1\nkind: Service\n"),
        [
            "kind: Unsupported value: \"Service\": supported values: \"Pod\", \"ConfigMap\", \"Secret\", \"Namespace\", \"Job\", \"CronJob\", \"Deployment\", \"ReplicaSet\", \"DaemonSet\", \"ControllerRevision\""
        ]
    );
    assert_eq!(
        errors("metadata: {name: x}\n"),
        ["kind: Required value", "apiVersion: Required value"]
    );
}

#[test]
fn error_display_names_the_file() {
    let e = parse_manifest(
        Path::new("/m/web.yaml"),
        pod_with_container("    imagePullPolicy: Sometimes\n").as_bytes(),
        NODE,
        seen(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "/m/web.yaml: spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\""
    );
}

/// (manifest, expected error messages) for invalid pods.
#[test]
fn bad_manifests_report_exact_field_paths() {
    let cases: Vec<(String, Vec<&str>)> = vec![
        // Unknown fields are dropped (as the kubelet does): a misspelt required one is missing.
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: a, imagee: b}]}\n".into(),
            vec!["spec.containers[0].image: Required value"],
        ),
        (
            pod_with_container("    ports: [{containerPort: eighty}]\n"),
            vec!["spec.containers[0].ports[0].containerPort: Invalid type: invalid type: string \"eighty\", expected i32"],
        ),
        (
            pod_with_container("    env: [{name: A, value: 1}]\n"),
            vec!["spec.containers[0].env[0].value: Invalid type: invalid type: integer `1`, expected a string"],
        ),
        // The docs' pod-with-scheduling-gates.yaml: the kubelet gives a static pod its node
        // name first, and a pod with a node may not be gated.
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: test-pod}\nspec:\n  schedulingGates: [{name: example.com/foo}]\n  containers: [{name: pause, image: registry.k8s.io/pause:3.6}]\n".into(),
            vec!["spec.nodeName: Forbidden: cannot be set until all schedulingGates have been cleared"],
        ),
        (
            pod_with_container("    tty: yes\n"),
            vec!["spec.containers[0].tty: Invalid type: invalid type: string \"yes\", expected a boolean"],
        ),
        // Names.
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: Web_1}\nspec: {containers: [{name: a, image: b}]}\n".into(),
            vec!["metadata.name: Invalid value: \"Web_1\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"],
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {namespace: x}\nspec: {containers: [{name: a, image: b}]}\n".into(),
            vec!["metadata.name: Required value: name or generateName is required"],
        ),
        (
            format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {}}}\nspec: {{containers: [{{name: a, image: b}}]}}\n", "a".repeat(250)),
            vec![],
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: Kube.System}\nspec: {containers: [{name: a, image: b}]}\n".into(),
            vec![],
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {'bad key!': v, ok: 'bad value!'}}\nspec: {containers: [{name: a, image: b}]}\n".into(),
            vec![],
        ),
        // Containers.
        ("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: []}\n".into(), vec!["spec.containers: Required value"]),
        ("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\n".into(), vec!["spec.containers: Required value"]),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - {name: a, image: x}\n  - {name: b}\n".into(),
            vec!["spec.containers[1].image: Required value"],
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  initContainers: [{name: a, image: x}]\n  containers:\n  - {name: a, image: x}\n  - {image: x}\n  - {name: Big, image: x}\n".into(),
            vec![
                "spec.containers[0].name: Duplicate value: \"a\"",
                "spec.containers[1].name: Required value",
                "spec.containers[2].name: Invalid value: \"Big\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
            ],
        ),
        // Ports.
        (
            pod_with_container("    ports:\n    - {containerPort: 70000}\n    - {containerPort: 0, name: http}\n    - {containerPort: 80, name: http, protocol: HTTP}\n    - {containerPort: 81, name: Bad_Name}\n    - {containerPort: 82, hostPort: -1}\n"),
            vec![
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.containers[0].ports[1].containerPort: Required value",
                "spec.containers[0].ports[2].name: Duplicate value: \"http\"",
                "spec.containers[0].ports[2].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                "spec.containers[0].ports[3].name: Invalid value: \"Bad_Name\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                "spec.containers[0].ports[4].hostPort: Invalid value: -1: must be between 1 and 65535, inclusive",
            ],
        ),
        // Resources.
        (
            pod_with_container("    resources:\n      limits: {cpu: abc, memory: 1Gi}\n      requests: {memory: 2Gi, gpu: 1}\n"),
            vec![
                "spec.containers[0].resources.limits[cpu]: Invalid value: \"abc\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                "spec.containers[0].resources.requests[cpu]: Invalid value: \"abc\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                "spec.containers[0].resources.requests[gpu]: Invalid value: \"gpu\": must be a standard resource type or fully qualified",
                "spec.containers[0].resources.requests[memory]: Invalid value: \"2Gi\": must be less than or equal to memory limit of 1Gi",
            ],
        ),
        (
            pod_with_container("    resources: {requests: {cpu: -1}}\n"),
            vec!["spec.containers[0].resources.requests[cpu]: Invalid value: \"-1\": must be greater than or equal to 0"],
        ),
        // Pod-level enums.
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {restartPolicy: Sometimes, dnsPolicy: Google, containers: [{name: a, image: b}]}\n".into(),
            vec![
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
                "spec.dnsPolicy: Unsupported value: \"Google\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"",
            ],
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {dnsPolicy: None, containers: [{name: a, image: b}]}\n".into(),
            vec!["spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"],
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {terminationGracePeriodSeconds: -5, containers: [{name: a, image: b}]}\n".into(),
            vec!["spec.terminationGracePeriodSeconds: Invalid value: -5: must be greater than or equal to 0"],
        ),
        // Probes.
        (
            pod_with_container("    livenessProbe: {periodSeconds: 5}\n    readinessProbe:\n      exec: {command: [x]}\n      tcpSocket: {port: 80}\n    startupProbe: {httpGet: {port: 0}, successThreshold: 2}\n"),
            vec![
                "spec.containers[0].livenessProbe: Required value: must specify a handler type",
                "spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type",
                "spec.containers[0].startupProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.containers[0].startupProbe.successThreshold: Invalid value: 2: must be 1",
            ],
        ),
        (
            pod_with_container("    livenessProbe: {exec: {command: []}, initialDelaySeconds: -1}\n    readinessProbe: {tcpSocket: {port: no_such}}\n"),
            vec![
                "spec.containers[0].livenessProbe.exec.command: Required value",
                "spec.containers[0].livenessProbe.initialDelaySeconds: Invalid value: -1: must be greater than or equal to 0",
                "spec.containers[0].readinessProbe.tcpSocket.port: Invalid value: \"no_such\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            ],
        ),
        (
            pod_with_container("    lifecycle: {preStop: {}, postStart: {exec: {command: [x]}, sleep: {seconds: 1}}}\n"),
            vec![
                "spec.containers[0].lifecycle.postStart.sleep: Forbidden: may not specify more than 1 handler type",
                "spec.containers[0].lifecycle.preStop: Required value: must specify a handler type",
            ],
        ),
        // Init containers and sidecars.
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  initContainers:\n  - {name: i, image: x, livenessProbe: {exec: {command: [x]}}, restartPolicy: Never}\n  - {name: s, image: x, restartPolicy: Always, readinessProbe: {exec: {command: [x]}}}\n  containers:\n  - {name: a, image: b, restartPolicy: Always}\n".into(),
            vec![
                "spec.initContainers[0].restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
                "spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers without restartPolicy=Always",
                "spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers",
            ],
        ),
        // Volumes and mounts.
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  volumes:\n  - {name: data, emptyDir: {}}\n  - {name: data, emptyDir: {medium: Disk}}\n  - {name: both, emptyDir: {}, hostPath: {path: /x}}\n  - {name: hp, hostPath: {path: '', type: Folder}}\n  - {name: Bad}\n  containers:\n  - name: a\n    image: b\n    volumeMounts:\n    - {name: data, mountPath: /d}\n    - {name: missing, mountPath: /m}\n    - {name: data, mountPath: /d, subPath: ../etc}\n    - {name: data, mountPath: /p, mountPropagation: Bidirectional}\n    - {name: data, mountPath: ''}\n".into(),
            vec![
                "spec.volumes[1].name: Duplicate value: \"data\"",
                "spec.volumes[1].emptyDir.medium: Unsupported value: \"Disk\": supported values: \"\", \"Memory\", \"HugePages\"",
                "spec.volumes[2].hostPath: Forbidden: may not specify more than 1 volume type",
                "spec.volumes[3].hostPath.path: Required value",
                "spec.volumes[3].hostPath.type: Unsupported value: \"Folder\": supported values: \"\", \"DirectoryOrCreate\", \"Directory\", \"FileOrCreate\", \"File\", \"Socket\", \"CharDevice\", \"BlockDevice\"",
                "spec.volumes[4].name: Invalid value: \"Bad\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                "spec.containers[0].volumeMounts[1].name: Not found: \"missing\"",
                "spec.containers[0].volumeMounts[2].mountPath: Invalid value: \"/d\": must be unique",
                "spec.containers[0].volumeMounts[2].subPath: Invalid value: \"../etc\": must not contain '..'",
                "spec.containers[0].volumeMounts[3].mountPropagation: Forbidden: Bidirectional mount propagation is available only to privileged containers",
                "spec.containers[0].volumeMounts[4].mountPath: Required value",
            ],
        ),
        // Env.
        (
            pod_with_container("    env:\n    - {name: '', value: x}\n    - {name: 'A=B'}\n    - {name: C, value: x, valueFrom: {fieldRef: {fieldPath: metadata.name}}}\n    - {name: D, valueFrom: {fieldRef: {fieldPath: spec.containers}}}\n    - {name: E, valueFrom: {}}\n    - {name: F, valueFrom: {resourceFieldRef: {resource: limits.gpu}}}\n    - {name: G, valueFrom: {fieldRef: {fieldPath: \"metadata.labels['app']\"}}}\n"),
            vec![
                "spec.containers[0].env[0].name: Required value",
                "spec.containers[0].env[1].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='",
                "spec.containers[0].env[2].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty",
                "spec.containers[0].env[3].valueFrom.fieldRef.fieldPath: Unsupported value: \"spec.containers\": supported values: \"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\", \"metadata.labels['<KEY>']\", \"metadata.annotations['<KEY>']\"",
                "spec.containers[0].env[4].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef`, `secretKeyRef` or `fileKeyRef`",
                "spec.containers[0].env[5].valueFrom.resourceFieldRef.resource: Unsupported value: \"limits.gpu\": supported values: \"limits.cpu\", \"limits.memory\", \"limits.ephemeral-storage\", \"requests.cpu\", \"requests.memory\", \"requests.ephemeral-storage\"",
            ],
        ),
        // Security context.
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  securityContext: {runAsUser: -1, seccompProfile: {type: Localhost}}\n  containers:\n  - name: a\n    image: b\n    securityContext: {privileged: true, allowPrivilegeEscalation: false, seccompProfile: {type: RuntimeDefault, localhostProfile: x.json}, procMount: Weird}\n".into(),
            vec![
                "spec.containers[0].securityContext.procMount: Unsupported value: \"Weird\": supported values: \"Default\", \"Unmasked\"",
                "spec.containers[0].securityContext.seccompProfile.localhostProfile: Invalid value: \"x.json\": can only be set when seccomp type is Localhost",
                "spec.containers[0].securityContext: Invalid value: \"\": cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
                "spec.securityContext.runAsUser: Invalid value: -1: must be between 0 and 2147483647, inclusive",
                "spec.securityContext.seccompProfile.localhostProfile: Required value: must be set when seccomp type is Localhost",
            ],
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  hostNetwork: true\n  containers:\n  - {name: a, image: b, ports: [{containerPort: 80, hostPort: 8080}]}\n  - {name: c, image: b, ports: [{containerPort: 8080}]}\n".into(),
            vec![
                "spec.containers[0].ports[0].hostPort: Invalid value: 8080: must match `containerPort` when `hostNetwork` is true",
                "spec.containers[1].ports[0].hostPort: Duplicate value: \"8080/TCP\"",
            ],
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  hostAliases: [{ip: 10.0.0.300, hostnames: [ok.local, Bad_Host]}]\n  tolerations:\n  - {operator: Maybe}\n  - {key: k, operator: Exists, value: v}\n  - {key: k, effect: NoSchedule, tolerationSeconds: 5}\n  volumes: [{name: v}]\n  containers:\n  - name: a\n    image: b\n    volumeMounts: [{name: v, mountPath: /v, recursiveReadOnly: Enabled}]\n".into(),
            vec![
                "spec.containers[0].volumeMounts[0].recursiveReadOnly: Forbidden: may only be specified when readOnly is true",
                "spec.hostAliases[0].ip: Invalid value: \"10.0.0.300\": must be a valid IP address",
                "spec.hostAliases[0].hostnames[1]: Invalid value: \"Bad_Host\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
                "spec.tolerations[0].operator: Unsupported value: \"Maybe\": supported values: \"Equal\", \"Exists\"",
                "spec.tolerations[0].operator: Invalid value: \"Maybe\": operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
                "spec.tolerations[1].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'",
                "spec.tolerations[2].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set",
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (i, (yaml, expected)) in cases.iter().enumerate() {
        let got = errors(yaml);
        if expected.is_empty() {
            // Only the first error line is checked by the prefix tests below.
            assert!(!got.is_empty(), "case {i}");
            continue;
        }
        let mut got_sorted = got.clone();
        got_sorted.sort();
        let mut exp_sorted: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        exp_sorted.sort();
        if got_sorted != exp_sorted {
            failures.push(format!(
                "case {i}:\n  got:      {got:#?}\n  expected: {expected:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn name_errors_with_prefixes() {
    let long = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {}}}\nspec: {{containers: [{{name: a, image: b}}]}}\n",
        "a".repeat(250)
    );
    let e = errors(&long);
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with(&format!("metadata.name: Invalid value: \"{}-node-1\": must be no more than 253 characters (the pod name with the node name appended)", "a".repeat(250))), "{e:?}");
    let e = errors(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: Kube.System}\nspec: {containers: [{name: a, image: b}]}\n",
    );
    assert!(
        e[0].starts_with(
            "metadata.namespace: Invalid value: \"Kube.System\": a lowercase RFC 1123 label"
        ),
        "{e:?}"
    );
    let e = errors(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {'bad key!': v, ok: 'bad value!'}}\nspec: {containers: [{name: a, image: b}]}\n",
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("metadata.labels: Invalid value: \"bad key!\": name part must consist of"),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("metadata.labels: Invalid value: \"bad value!\": a valid label must be"),
        "{e:?}"
    );
    let e = errors(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: a, image: ' busybox'}]}\n",
    );
    assert_eq!(
        e,
        [
            "spec.containers[0].image: Invalid value: \" busybox\": must not have leading or trailing whitespace"
        ]
    );
}

#[test]
fn static_pod_round_trips_through_json() {
    // The agent stores pods on disk and seeds the source with them after a restart.
    let p = &parse(WEB)[0];
    let json = serde_json::to_string(p).unwrap();
    let back: StaticPod = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, p);
}

#[test]
fn labels_and_annotations_are_not_part_of_the_uid_and_api_pods_keep_their_name() {
    let base = "apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {a: b}}\nspec: {containers: [{name: a, image: b}]}\n";
    let relabelled = base.replace("{a: b}", "{a: c}, annotations: {note: hi}");
    let new_image = base.replace("image: b", "image: c");
    assert_eq!(parse(base)[0].uid(), parse(&relabelled)[0].uid());
    assert_ne!(parse(base)[0].uid(), parse(&new_image)[0].uid());
    let kept = base.replace(
        "labels: {a: b}",
        "labels: {a: b}, annotations: {nodelet.io/append-node-name: 'false'}",
    );
    assert_eq!(parse(&kept)[0].name(), "web");
    assert!(parse(base)[0].name().starts_with("web-"));
}

#[test]
fn unknown_fields_are_dropped_and_listed() {
    let pods = parse_manifest(
        Path::new("/m/web.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, lables: {}}\nspec: {containers: [{name: a, image: b, fromTheFuture: 1}], restartPolicyy: Never}\n".as_bytes(),
        NODE,
        seen(),
    )
    .unwrap();
    assert_eq!(
        pods[0].ignored_fields,
        vec![
            "metadata.lables",
            "spec.containers[0].fromTheFuture",
            "spec.restartPolicyy"
        ]
    );
    let known = parse_manifest(
        Path::new("/m/web.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: a, image: b}], volumes: [{name: v, emptyDir: {medium: Memory}}]}\n".as_bytes(),
        NODE,
        seen(),
    )
    .unwrap();
    assert!(known[0].ignored_fields.is_empty());
    assert_eq!(known[0].ignored_fields_message(), None);
    assert_eq!(
        pods[0].ignored_fields_message().unwrap(),
        "/m/web.yaml: unknown fields \"metadata.lables\", \"spec.containers[0].fromTheFuture\", \"spec.restartPolicyy\" ignored (not in this node's Pod API; the kubelet drops them too)"
    );
}

/// Issue 16: a 3.9 MB invalid `metadata.name` must not make a multi-MB error (it becomes a
/// log line, an event and the error kept in the snapshot).
#[test]
fn a_huge_invalid_name_makes_a_bounded_error() {
    let name = format!("Bad_{}", "x".repeat(3_900_000));
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec: {{containers: [{{name: a, image: busybox}}]}}\n"
    );
    let e = nodelet_objects::manifest::parse_manifest(
        std::path::Path::new("/m/big.yaml"),
        yaml.as_bytes(),
        "node1",
        jiff::Timestamp::now(),
    )
    .unwrap_err();
    let s = e.to_string();
    assert!(s.len() < 2048, "{} bytes", s.len());
    assert!(
        s.starts_with("/m/big.yaml: metadata.name: Invalid value: \"Bad_xxx"),
        "{s}"
    );
    assert!(s.contains(&format!("… ({} bytes)", name.len() + 2)), "{s}");
}

/// configMap, secret, projected and downwardAPI sources and key refs, as the API server
/// validates them.
#[test]
fn config_sources_are_validated() {
    let vol = |v: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: web}}\nspec:\n  containers: [{{name: a, image: b}}]\n  volumes:\n  - {v}\n"
        )
    };
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            vol(
                "{name: c, configMap: {name: cfg, defaultMode: 0644, items: [{key: k, path: k, mode: 0400}]}}",
            ),
            vec![],
        ),
        (
            vol("{name: c, configMap: {name: '', defaultMode: 01000}}"),
            vec![
                "spec.volumes[0].configMap.name: Required value",
                "spec.volumes[0].configMap.defaultMode: Invalid value: 512: must be a number between 0 and 0777 (octal), both inclusive",
            ],
        ),
        (
            vol(
                "{name: c, configMap: {name: cfg, items: [{key: '', path: ../x}, {key: k, path: ..data}, {key: k, path: /abs}]}}",
            ),
            vec![
                "spec.volumes[0].configMap.items[0].key: Required value",
                "spec.volumes[0].configMap.items[0].path: Invalid value: \"../x\": must not contain '..'",
                "spec.volumes[0].configMap.items[1].path: Invalid value: \"..data\": must not start with '..'",
                "spec.volumes[0].configMap.items[2].path: Invalid value: \"/abs\": must be a relative path",
            ],
        ),
        (
            vol("{name: s, secret: {defaultMode: -1}}"),
            vec![
                "spec.volumes[0].secret.secretName: Required value",
                "spec.volumes[0].secret.defaultMode: Invalid value: -1: must be a number between 0 and 0777 (octal), both inclusive",
            ],
        ),
        (
            vol(
                "{name: p, projected: {sources: [{configMap: {name: a, items: [{key: k, path: x}]}}, {secret: {name: b, items: [{key: k, path: x}]}}, {configMap: {name: c}, secret: {name: d}}]}}",
            ),
            vec![
                "spec.volumes[0].projected.sources[1].secret.items[0].path: Invalid value: \"x\": conflicting duplicate paths",
                "spec.volumes[0].projected.sources[2]: Forbidden: may not specify more than 1 volume type per source",
            ],
        ),
        (
            pod_with_container(
                "    env:\n    - {name: A, valueFrom: {configMapKeyRef: {name: '', key: 'a b'}}}\n    - {name: B, valueFrom: {secretKeyRef: {name: s, key: ''}}}\n    envFrom: [{configMapRef: {name: ''}}]\n",
            ),
            vec![
                "spec.containers[0].env[0].valueFrom.configMapKeyRef.name: Required value",
                "spec.containers[0].env[0].valueFrom.configMapKeyRef.key: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                "spec.containers[0].env[1].valueFrom.secretKeyRef.key: Required value",
                "spec.containers[0].envFrom[0].configMapRef.name: Required value",
            ],
        ),
    ];
    for (yaml, want) in cases {
        if want.is_empty() {
            parse(&yaml);
        } else {
            assert_eq!(errors(&yaml), want, "{yaml}");
        }
    }
}

//! The sandbox inputs of a real static pod manifest: namespaces, hostname, sysctls, DNS and
//! hosts files, CNI identity.

use std::path::Path;

use nodelet::sandbox::bundle::SandboxSpec;
use nodelet::sandbox::{NamespaceOptions, dns};
use nodelet_objects::manifest::{StaticPod, parse_manifest};

fn pod(yaml: &str) -> StaticPod {
    let seen = "2026-11-22T10:00:00Z".parse().unwrap();
    parse_manifest(Path::new("/m/pod.yaml"), yaml.as_bytes(), "node1", seen)
        .unwrap()
        .remove(0)
}

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  shareProcessNamespace: true
  hostIPC: true
  securityContext:
    sysctls: [{name: net.ipv4.ip_unprivileged_port_start, value: "0"}]
  hostAliases: [{ip: 10.1.2.3, hostnames: [db.local]}]
  dnsPolicy: None
  dnsConfig: {nameservers: [10.0.0.53], searches: [shop.example], options: [{name: ndots, value: "2"}]}
  containers: [{name: c, image: busybox}]
"#;

#[test]
fn sandbox_spec_from_a_manifest() {
    let p = pod(POD);
    let s = SandboxSpec::for_pod(
        &p,
        "sb1",
        Path::new("pods/x"),
        Path::new("/usr/libexec/nodelet-pause"),
        Path::new("/var/lib/nodelet"),
    );
    assert_eq!(s.pod_name, "web-node1");
    assert_eq!(s.hostname, "web-node1");
    assert_eq!(s.pod_namespace, "shop");
    assert_eq!(s.pod_uid, p.uid());
    assert_eq!(
        s.namespaces,
        NamespaceOptions {
            host_network: false,
            host_pid: false,
            host_ipc: true,
            share_process_namespace: true
        }
    );
    assert_eq!(s.sysctls["net.ipv4.ip_unprivileged_port_start"], "0");
    assert_eq!(
        s.bundle_dir(),
        Path::new("/var/lib/nodelet/pods")
            .join(p.uid())
            .join("sandbox")
    );
    let n = s.pod_network(Path::new("/run/nodelet/netns/u"));
    assert_eq!(
        n.cni_args()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";"),
        format!(
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-node1;\
             K8S_POD_INFRA_CONTAINER_ID=sb1;K8S_POD_UID={}",
            p.uid()
        )
    );
    assert_eq!(n.ifname, "eth0");
}

#[test]
fn dns_files_from_a_manifest() {
    let p = pod(POD);
    let cluster = dns::ClusterDns::default();
    let (r, w) = dns::resolv_conf(&dns::DnsInput::for_pod(
        &p.pod,
        &cluster,
        "nameserver 10.9.9.9\n",
    ))
    .unwrap();
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(
        r.render(),
        "search shop.example\nnameserver 10.0.0.53\noptions ndots:2\n"
    );
    let hosts = dns::hosts_for_pod(&p.pod, "web-node1", &["10.244.1.9".parse().unwrap()], "");
    assert!(hosts.contains("\n10.244.1.9\tweb-node1\n"), "{hosts}");
    assert!(
        hosts.ends_with("# Entries added by HostAliases.\n10.1.2.3\tdb.local\n"),
        "{hosts}"
    );

    let host = pod(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: h}\nspec:\n  hostNetwork: true\n  \
         containers: [{name: c, image: busybox}]\n",
    );
    let s = SandboxSpec::for_pod(
        &host,
        "sb2",
        Path::new("p"),
        Path::new("/p"),
        Path::new("/r"),
    );
    assert!(!s.namespaces.needs_network());
    let hosts = dns::hosts_for_pod(&host.pod, "h-node1", &[], "127.0.0.1 localhost\n");
    assert_eq!(
        hosts,
        "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n"
    );
    // ClusterFirst (the default) on the host network: the host's resolver, loopback kept.
    let (r, _) = dns::resolv_conf(&dns::DnsInput::for_pod(
        &host.pod,
        &cluster,
        "nameserver 127.0.0.53\n",
    ))
    .unwrap();
    assert_eq!(r.nameservers, ["127.0.0.53"]);
}

//! The pod's managed `/etc/hosts` and `/etc/resolv.conf`, built the kubelet's way and written
//! under the pod directory (the container spec bind-mounts them).
//!
//! hosts: the kubelet's header and localhost entries, `<podIP>\t<hostname>` for each pod IP,
//! then `hostAliases`; a hostNetwork pod gets the host's hosts file plus its aliases.
//!
//! resolv.conf by `dnsPolicy`: `Default` = the host's file (loopback nameservers dropped for
//! pods with their own network: they cannot reach the host's 127.x resolver); `ClusterFirst`
//! = cluster DNS with the cluster search path and `ndots:5` — with no cluster DNS configured
//! it falls back to `Default` with a warning, as the kubelet does; a hostNetwork pod with
//! `ClusterFirst` uses `Default`; `ClusterFirstWithHostNet` is cluster DNS even on the host
//! network; `None` = only `dnsConfig`. Then `dnsConfig` nameservers/searches are appended
//! (duplicates dropped) and its options override by name. Limits as the kubelet: 3
//! nameservers, 32 search domains (the rest dropped with a warning).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{HostAlias, PodDNSConfig};

use super::error::{Error, Result};
use super::paths;

pub const MANAGED_HOSTS_HEADER: &str = "# Kubernetes-managed hosts file.\n";
pub const MANAGED_HOSTS_HEADER_HOST_NETWORK: &str =
    "# Kubernetes-managed hosts file (host network).\n";
pub const MAX_NAMESERVERS: usize = 3;
pub const MAX_SEARCHES: usize = 32;

/// The pod's hosts file content (pod network).
pub fn hosts_content(
    pod_ips: &[IpAddr],
    hostname: &str,
    host_domain: Option<&str>,
    aliases: &[HostAlias],
) -> String {
    let mut s = String::from(MANAGED_HOSTS_HEADER);
    s.push_str("127.0.0.1\tlocalhost\n");
    s.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
    s.push_str("fe00::0\tip6-localnet\n");
    s.push_str("fe00::0\tip6-mcastprefix\n");
    s.push_str("fe00::1\tip6-allnodes\n");
    s.push_str("fe00::2\tip6-allrouters\n");
    for ip in pod_ips {
        match host_domain.filter(|d| !d.is_empty()) {
            Some(d) => s.push_str(&format!("{ip}\t{hostname}.{d}\t{hostname}\n")),
            None => s.push_str(&format!("{ip}\t{hostname}\n")),
        }
    }
    s.push_str(&alias_entries(aliases));
    s
}

/// The hosts file of a hostNetwork pod: the host's `host_hosts` content plus aliases.
pub fn host_network_hosts_content(host_hosts: &str, aliases: &[HostAlias]) -> String {
    let mut s = String::from(MANAGED_HOSTS_HEADER_HOST_NETWORK);
    s.push_str(host_hosts);
    s.push_str(&alias_entries(aliases));
    s
}

fn alias_entries(aliases: &[HostAlias]) -> String {
    if aliases.is_empty() {
        return String::new();
    }
    let mut s = String::from("\n# Entries added by HostAliases.\n");
    for a in aliases {
        let names = a.hostnames.clone().unwrap_or_default().join("\t");
        s.push_str(&format!("{}\t{names}\n", a.ip));
    }
    s
}

/// A parsed resolv.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    pub nameservers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

impl ResolvConf {
    /// Parses resolv.conf text like the kubelet: `#`/`;` comments, the last `search` line wins
    /// (trailing dots trimmed, `.` dropped), options accumulate (a later one replaces an
    /// earlier one of the same name).
    pub fn parse(text: &str) -> ResolvConf {
        let mut r = ResolvConf::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let f: Vec<&str> = line.split_whitespace().collect();
            match f.as_slice() {
                ["nameserver", ns, ..] => r.nameservers.push(ns.to_string()),
                ["search", rest @ ..] => {
                    r.searches = rest
                        .iter()
                        .filter(|s| **s != ".")
                        .map(|s| s.trim_end_matches('.').to_string())
                        .collect();
                }
                ["options", rest @ ..] => {
                    for o in rest {
                        merge_option(&mut r.options, o);
                    }
                }
                _ => {}
            }
        }
        r
    }

    /// The file text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        if !self.searches.is_empty() {
            s.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        for ns in &self.nameservers {
            s.push_str(&format!("nameserver {ns}\n"));
        }
        if !self.options.is_empty() {
            s.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        s
    }
}

fn option_name(o: &str) -> &str {
    o.split_once(':').map(|(n, _)| n).unwrap_or(o)
}

fn merge_option(opts: &mut Vec<String>, o: &str) {
    match opts.iter_mut().find(|x| option_name(x) == option_name(o)) {
        Some(x) => *x = o.to_string(),
        None => opts.push(o.to_string()),
    }
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

/// Cluster DNS settings of the node (the kubelet's `clusterDNS`, `clusterDomain`); empty when
/// the node has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterDns {
    pub servers: Vec<IpAddr>,
    pub domain: String,
}

/// What a pod's resolv.conf is made from.
#[derive(Debug, Clone)]
pub struct DnsInput<'a> {
    /// `spec.dnsPolicy` (None = `ClusterFirst`).
    pub policy: Option<&'a str>,
    pub host_network: bool,
    pub dns_config: Option<&'a PodDNSConfig>,
    pub namespace: &'a str,
    pub cluster: &'a ClusterDns,
    /// The host's resolv.conf text.
    pub host_resolv: &'a str,
}

impl<'a> DnsInput<'a> {
    /// The DNS inputs of a pod: its dnsPolicy, hostNetwork, dnsConfig and namespace.
    pub fn for_pod(
        pod: &'a k8s_openapi::api::core::v1::Pod,
        cluster: &'a ClusterDns,
        host_resolv: &'a str,
    ) -> DnsInput<'a> {
        let spec = pod.spec.as_ref();
        DnsInput {
            policy: spec.and_then(|s| s.dns_policy.as_deref()),
            host_network: spec.and_then(|s| s.host_network).unwrap_or(false),
            dns_config: spec.and_then(|s| s.dns_config.as_ref()),
            namespace: pod.metadata.namespace.as_deref().unwrap_or("default"),
            cluster,
            host_resolv,
        }
    }
}

/// The pod's hosts file: `host_hosts` is the host's /etc/hosts text (used with hostNetwork).
pub fn hosts_for_pod(
    pod: &k8s_openapi::api::core::v1::Pod,
    hostname: &str,
    pod_ips: &[IpAddr],
    host_hosts: &str,
) -> String {
    let spec = pod.spec.as_ref();
    let aliases = spec.and_then(|s| s.host_aliases.as_deref()).unwrap_or(&[]);
    if spec.and_then(|s| s.host_network).unwrap_or(false) {
        host_network_hosts_content(host_hosts, aliases)
    } else {
        hosts_content(pod_ips, hostname, None, aliases)
    }
}

/// The pod's resolv.conf and the warnings to report as events (fallbacks, dropped entries).
pub fn resolv_conf(input: &DnsInput) -> Result<(ResolvConf, Vec<String>)> {
    let mut warnings = vec![];
    let policy = input.policy.unwrap_or("ClusterFirst");
    #[derive(PartialEq)]
    enum Kind {
        Host,
        Cluster,
        None,
    }
    let mut kind = match policy {
        "None" => Kind::None,
        "Default" => Kind::Host,
        "ClusterFirstWithHostNet" => Kind::Cluster,
        "ClusterFirst" if input.host_network => Kind::Host,
        "ClusterFirst" => Kind::Cluster,
        other => {
            return Err(Error::invalid(
                "spec.dnsPolicy",
                format!(
                    "unsupported value {other:?}: \
                     ClusterFirst, ClusterFirstWithHostNet, Default or None"
                ),
            ));
        }
    };
    if kind == Kind::Cluster && input.cluster.servers.is_empty() {
        warnings.push(format!(
            "MissingClusterDNS: nodelet has no cluster DNS configured and cannot create the pod \
             with {policy:?} policy; falling back to \"Default\" policy"
        ));
        kind = Kind::Host;
    }
    let mut r = match kind {
        Kind::None => ResolvConf::default(),
        Kind::Host => {
            let mut h = ResolvConf::parse(input.host_resolv);
            if !input.host_network {
                let (lo, keep): (Vec<String>, Vec<String>) = h
                    .nameservers
                    .into_iter()
                    .partition(|ns| ns.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()));
                if !lo.is_empty() {
                    warnings.push(format!(
                        "dropped the host's loopback nameservers {lo:?}: \
                         unreachable from the pod's network namespace"
                    ));
                }
                h.nameservers = keep;
            }
            h
        }
        Kind::Cluster => {
            let host = ResolvConf::parse(input.host_resolv);
            let d = &input.cluster.domain;
            let mut searches = vec![];
            if !d.is_empty() {
                searches.push(format!("{}.svc.{d}", input.namespace));
                searches.push(format!("svc.{d}"));
                searches.push(d.clone());
            }
            for s in &host.searches {
                push_unique(&mut searches, s);
            }
            ResolvConf {
                nameservers: input
                    .cluster
                    .servers
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                searches,
                options: vec!["ndots:5".into()],
            }
        }
    };
    if let Some(c) = input.dns_config {
        for ns in c.nameservers.iter().flatten() {
            push_unique(&mut r.nameservers, ns);
        }
        for s in c.searches.iter().flatten() {
            push_unique(&mut r.searches, s);
        }
        for o in c.options.iter().flatten() {
            let Some(name) = o.name.as_deref().filter(|n| !n.is_empty()) else {
                continue;
            };
            let opt = match o.value.as_deref() {
                Some(v) if !v.is_empty() => format!("{name}:{v}"),
                _ => name.to_string(),
            };
            merge_option(&mut r.options, &opt);
        }
    }
    if r.nameservers.len() > MAX_NAMESERVERS {
        let dropped = r.nameservers.split_off(MAX_NAMESERVERS);
        warnings.push(format!(
            "DNSConfigForming: nameserver limits exceeded; applied {:?}, dropped {dropped:?}",
            r.nameservers
        ));
    }
    if r.searches.len() > MAX_SEARCHES {
        let dropped = r.searches.split_off(MAX_SEARCHES);
        warnings.push(format!(
            "DNSConfigForming: search line limits exceeded; dropped {dropped:?}"
        ));
    }
    Ok((r, warnings))
}

/// The paths of a pod's managed files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodDnsFiles {
    pub hosts: PathBuf,
    pub resolv_conf: PathBuf,
}

/// The paths of pod `uid`'s managed files (written or not).
pub fn files(root_dir: &Path, uid: &str) -> PodDnsFiles {
    PodDnsFiles {
        hosts: paths::hosts_path(root_dir, uid),
        resolv_conf: paths::resolv_conf_path(root_dir, uid),
    }
}

/// Writes the pod's hosts and resolv.conf (atomically, mode 0644) and returns their paths.
pub fn write_files(
    root_dir: &Path,
    uid: &str,
    hosts: &str,
    resolv: &ResolvConf,
) -> Result<PodDnsFiles> {
    crate::disk::check_component("metadata.uid", uid)?;
    let f = files(root_dir, uid);
    crate::disk::write_atomic(&f.hosts, hosts.as_bytes(), 0o644)?;
    crate::disk::write_atomic(&f.resolv_conf, resolv.render().as_bytes(), 0o644)?;
    Ok(f)
}

/// Removes the pod's managed files (ok if absent).
pub fn remove_files(root_dir: &Path, uid: &str) -> Result<()> {
    let f = files(root_dir, uid);
    for p in [f.hosts, f.resolv_conf] {
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", p, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodDNSConfigOption;

    const HOST: &str = "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.2\n\
                        search corp.example. lab.\noptions edns0 ndots:2 ; trailing\n";

    fn input<'a>(policy: Option<&'a str>, cluster: &'a ClusterDns) -> DnsInput<'a> {
        DnsInput {
            policy,
            host_network: false,
            dns_config: None,
            namespace: "default",
            cluster,
            host_resolv: HOST,
        }
    }

    #[test]
    fn hosts_like_the_kubelet() {
        let aliases = vec![HostAlias {
            ip: "10.1.2.3".into(),
            hostnames: Some(vec!["foo.local".into(), "bar.local".into()]),
        }];
        let h = hosts_content(
            &["10.244.1.5".parse().unwrap()],
            "web-node1",
            None,
            &aliases,
        );
        assert_eq!(
            h,
            "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n\
             ::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
             fe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n\
             10.244.1.5\tweb-node1\n\n# Entries added by HostAliases.\n\
             10.1.2.3\tfoo.local\tbar.local\n"
        );
        let h = hosts_content(
            &["10.244.1.5".parse().unwrap()],
            "h",
            Some("sub.ns.svc.x"),
            &[],
        );
        assert!(h.ends_with("10.244.1.5\th.sub.ns.svc.x\th\n"), "{h}");
        let h = host_network_hosts_content("127.0.0.1 localhost\n", &[]);
        assert_eq!(
            h,
            "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n"
        );
    }

    #[test]
    fn default_policy_drops_loopback() {
        let c = ClusterDns::default();
        let (r, w) = resolv_conf(&input(Some("Default"), &c)).unwrap();
        assert_eq!(r.nameservers, ["10.0.0.2"]);
        assert_eq!(r.searches, ["corp.example", "lab"]);
        assert_eq!(r.options, ["edns0", "ndots:2"]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(
            r.render(),
            "search corp.example lab\nnameserver 10.0.0.2\noptions edns0 ndots:2\n"
        );
        let mut i = input(Some("Default"), &c);
        i.host_network = true;
        let (r, _) = resolv_conf(&i).unwrap();
        assert_eq!(
            r.nameservers,
            ["127.0.0.53", "10.0.0.2"],
            "host network keeps them"
        );
    }

    #[test]
    fn cluster_first_falls_back_without_cluster_dns() {
        let c = ClusterDns::default();
        let (r, w) = resolv_conf(&input(None, &c)).unwrap();
        assert_eq!(r.nameservers, ["10.0.0.2"]);
        assert!(w[0].starts_with("MissingClusterDNS"), "{w:?}");
        let c = ClusterDns {
            servers: vec!["10.96.0.10".parse().unwrap()],
            domain: "cluster.local".into(),
        };
        let (r, w) = resolv_conf(&input(Some("ClusterFirst"), &c)).unwrap();
        assert!(w.is_empty());
        assert_eq!(r.nameservers, ["10.96.0.10"]);
        assert_eq!(
            r.searches,
            [
                "default.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local",
                "corp.example",
                "lab"
            ]
        );
        assert_eq!(r.options, ["ndots:5"]);
        let mut i = input(Some("ClusterFirst"), &c);
        i.host_network = true;
        assert_eq!(
            resolv_conf(&i).unwrap().0.nameservers,
            ["127.0.0.53", "10.0.0.2"]
        );
        i.policy = Some("ClusterFirstWithHostNet");
        assert_eq!(resolv_conf(&i).unwrap().0.nameservers, ["10.96.0.10"]);
    }

    #[test]
    fn none_and_dns_config_merge() {
        let c = ClusterDns::default();
        let cfg = PodDNSConfig {
            nameservers: Some(vec![
                "1.1.1.1".into(),
                "10.0.0.2".into(),
                "8.8.8.8".into(),
                "9.9.9.9".into(),
            ]),
            searches: Some(vec!["lab".into(), "extra.example".into()]),
            options: Some(vec![
                PodDNSConfigOption {
                    name: Some("ndots".into()),
                    value: Some("1".into()),
                },
                PodDNSConfigOption {
                    name: Some("single-request".into()),
                    value: None,
                },
            ]),
        };
        let mut i = input(Some("None"), &c);
        i.dns_config = Some(&cfg);
        let (r, w) = resolv_conf(&i).unwrap();
        assert_eq!(r.nameservers, ["1.1.1.1", "10.0.0.2", "8.8.8.8"]);
        assert_eq!(r.searches, ["lab", "extra.example"]);
        assert_eq!(r.options, ["ndots:1", "single-request"]);
        assert!(w[0].contains("nameserver limits exceeded"), "{w:?}");
        i.policy = Some("Default");
        let (r, _) = resolv_conf(&i).unwrap();
        assert_eq!(r.nameservers, ["10.0.0.2", "1.1.1.1", "8.8.8.8"]);
        assert_eq!(r.searches, ["corp.example", "lab", "extra.example"]);
        assert_eq!(r.options, ["edns0", "ndots:1", "single-request"]);
        i.policy = Some("Bogus");
        let e = resolv_conf(&i).unwrap_err().to_string();
        assert!(e.starts_with("spec.dnsPolicy: "), "{e}");
    }

    #[test]
    fn files_written_and_removed() {
        let t = tempfile::tempdir().unwrap();
        let r = ResolvConf {
            nameservers: vec!["10.0.0.2".into()],
            ..Default::default()
        };
        let f = write_files(t.path(), "u1", "hosts\n", &r).unwrap();
        assert_eq!(f.hosts, t.path().join("pods/u1/etc-hosts"));
        assert_eq!(
            std::fs::read_to_string(&f.resolv_conf).unwrap(),
            "nameserver 10.0.0.2\n"
        );
        remove_files(t.path(), "u1").unwrap();
        assert!(!f.hosts.exists() && !f.resolv_conf.exists());
        remove_files(t.path(), "u1").unwrap();
    }
}

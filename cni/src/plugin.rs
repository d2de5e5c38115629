//! The CNI commands (ADD, DEL, CHECK, VERSION, STATUS, GC) and `sync`, wiring config,
//! IPAM, node setup and pod attachment together.

use std::collections::HashSet;
use std::future::Future;

use futures_util::TryStreamExt;
use serde_json::{Value, json};

use crate::config::{Attachment, NetConf};
use crate::env::{CniEnv, Command};
use crate::error::{CniError, Code, Result};
use crate::ipam::Ipam;
use crate::result::{AddResult, Interface, prev_addresses};
use crate::version::{LATEST, SUPPORTED, SpecVersion};
use crate::{hostport, masq, netns, nl, node, pod, reaper};

/// Run a future on a fresh current-thread runtime (cheap: no worker threads).
fn block_on<T>(f: impl Future<Output = Result<T>>) -> Result<T> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| CniError::io("starting the async runtime", e))?;
    rt.block_on(f)
}

/// Dispatch one CNI invocation. Returns what to print on stdout.
pub fn run(cmd: Command, stdin: &[u8]) -> Result<Option<String>> {
    if cmd == Command::Version {
        return Ok(Some(version(stdin)));
    }
    let conf = NetConf::from_stdin(stdin)?;
    if matches!(cmd, Command::Status | Command::Gc) && conf.version < SpecVersion::V110 {
        return Err(CniError::new(
            Code::IncompatibleVersion,
            format!(
                "network config field `cniVersion`: {cmd:?} needs 1.1.0, got {}",
                conf.version.as_str()
            ),
        ));
    }
    match cmd {
        Command::Add => add(&conf, &CniEnv::from_env(cmd)?).map(Some),
        Command::Del => del(&conf, &CniEnv::from_env(cmd)?).map(|()| None),
        Command::Check => check(&conf, &CniEnv::from_env(cmd)?).map(|()| None),
        Command::Status => status(&conf).map(|()| None),
        Command::Gc => gc(&conf).map(|()| None),
        Command::Version => Ok(Some(version(stdin))),
    }
}

fn version(stdin: &[u8]) -> String {
    let asked = serde_json::from_slice::<Value>(stdin)
        .ok()
        .and_then(|v| {
            v.get("cniVersion")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .filter(|v| SUPPORTED.contains(&v.as_str()))
        .unwrap_or_else(|| LATEST.to_string());
    json!({ "cniVersion": asked, "supportedVersions": SUPPORTED }).to_string()
}

fn open_ctr_netns(env: &CniEnv) -> Result<std::fs::File> {
    let path = env.netns.as_ref().ok_or_else(|| {
        CniError::new(
            Code::InvalidEnv,
            "environment variable CNI_NETNS is required",
        )
    })?;
    netns::open(path)?.ok_or_else(|| {
        CniError::new(
            Code::UnknownContainer,
            format!(
                "environment variable CNI_NETNS: network namespace {} does not exist",
                path.display()
            ),
        )
    })
}

fn add(conf: &NetConf, env: &CniEnv) -> Result<String> {
    let ctr_ns = open_ctr_netns(env)?;
    let ipam = Ipam::open(&conf.data_dir, conf.subnet, conf.gateway)?;
    let lease = ipam.allocate(&env.container_id, &env.ifname)?;
    let out = block_on(async {
        let host = nl::connect()?;
        let ctr = nl::connect_in(&ctr_ns)?;
        let node = node::ensure(&host, conf, &conf.data_dir, false).await?;
        let req = pod::PodRequest {
            conf,
            node: &node,
            ctr_ns: &ctr_ns,
            ifname: &env.ifname,
            host_name: pod::host_veth_name(&env.container_id, &env.ifname),
            ip: lease.ip,
        };
        // Idempotent ADD: an existing lease whose attachment is intact is returned as is.
        let attached = match lease.existing {
            true => match pod::verify(&host, &ctr, &req).await {
                Ok(a) => Ok(a),
                Err(_) => pod::attach(&host, &ctr, &req).await,
            },
            false => pod::attach(&host, &ctr, &req).await,
        };
        let mapped = attached.and_then(|a| {
            hostport::add(conf, &env.container_id, &env.ifname, lease.ip).map(|()| a)
        });
        match mapped {
            Ok(a) => Ok(render(conf, env, &node, &a, lease.ip)),
            Err(e) => {
                // Leave nothing half-made: removing the host end removes the pair.
                if let Ok(Some(m)) = nl::link_by_name(&host, &req.host_name).await {
                    let _ = nl::del_link(&host, m.header.index, &req.host_name).await;
                }
                Err(e)
            }
        }
    });
    match out {
        Ok(v) => Ok(v.to_string()),
        Err(e) => {
            if !lease.existing {
                let _ = ipam.release(&env.container_id, &env.ifname);
            }
            Err(e)
        }
    }
}

fn render(
    conf: &NetConf,
    env: &CniEnv,
    node: &node::Node,
    a: &pod::Attached,
    ip: std::net::Ipv4Addr,
) -> Value {
    let res = AddResult {
        interfaces: vec![
            Interface {
                name: conf.bridge.clone(),
                mac: node.bridge_mac.clone(),
                mtu: node.mtu,
                sandbox: None,
            },
            Interface {
                name: a.host_name.clone(),
                mac: a.host_mac.clone(),
                mtu: node.mtu,
                sandbox: None,
            },
            Interface {
                name: env.ifname.clone(),
                mac: a.ctr_mac.clone(),
                mtu: node.mtu,
                sandbox: env.netns.as_ref().map(|p| p.display().to_string()),
            },
        ],
        ips: vec![(ip, conf.subnet.prefix_len(), conf.gateway, 2)],
        routes: vec![(std::net::Ipv4Addr::UNSPECIFIED, 0, conf.gateway)],
    };
    res.to_json(conf.version, conf.prev_result.as_ref())
}

fn del(conf: &NetConf, env: &CniEnv) -> Result<()> {
    hostport::del(conf, &env.container_id, &env.ifname)?;
    let ipam = Ipam::open(&conf.data_dir, conf.subnet, conf.gateway)?;
    ipam.release(&env.container_id, &env.ifname)?;
    let ns = match &env.netns {
        Some(p) => netns::open(p).unwrap_or(None),
        None => None,
    };
    match ns {
        // Deleting the pod end removes the pair.
        Some(ns) => reaper::delete_detached(Some(&ns), &env.ifname),
        // The netns is gone (or was not passed): its veth died with it, unless something
        // still holds the namespace; then the host end is removed by name.
        None => reaper::delete_detached(None, &pod::host_veth_name(&env.container_id, &env.ifname)),
    }
}

fn check(conf: &NetConf, env: &CniEnv) -> Result<()> {
    let ctr_ns = open_ctr_netns(env)?;
    let ipam = Ipam::open(&conf.data_dir, conf.subnet, conf.gateway)?;
    let ip = ipam
        .lookup(&env.container_id, &env.ifname)?
        .ok_or_else(|| {
            CniError::new(
                Code::CheckFailed,
                format!(
                    "no address lease for container {} interface {}",
                    env.container_id, env.ifname
                ),
            )
        })?;
    if let Some(prev) = &conf.prev_result {
        let want = format!("{ip}/{}", conf.subnet.prefix_len());
        let listed = prev_addresses(prev, &env.ifname);
        if !listed.contains(&want) {
            return Err(CniError::new(
                Code::CheckFailed,
                format!(
                    "network config field `prevResult`: lists {listed:?} for {}, but the lease is {want}",
                    env.ifname
                ),
            ));
        }
    }
    block_on(async {
        let host = nl::connect()?;
        let ctr = nl::connect_in(&ctr_ns)?;
        let node = node::verify(&host, conf).await?;
        let req = pod::PodRequest {
            conf,
            node: &node,
            ctr_ns: &ctr_ns,
            ifname: &env.ifname,
            host_name: pod::host_veth_name(&env.container_id, &env.ifname),
            ip,
        };
        pod::verify(&host, &ctr, &req).await.map(|_| ())
    })?;
    hostport::verify(conf, &env.container_id, &env.ifname)
}

fn gc(conf: &NetConf) -> Result<()> {
    let valid: HashSet<Attachment> = conf
        .valid_attachments
        .clone()
        .ok_or_else(|| CniError::config("cni.dev/valid-attachments", "missing (required for GC)"))?
        .into_iter()
        .collect();
    let ipam = Ipam::open(&conf.data_dir, conf.subnet, conf.gateway)?;
    ipam.gc(&valid)?;
    let owners: HashSet<String> = valid
        .iter()
        .map(|a| hostport::owner(&a.container_id, &a.ifname))
        .collect();
    hostport::gc(conf, &|o| owners.contains(o))?;
    // Host veths on our bridge that belong to no valid attachment are removed too.
    let keep: HashSet<String> = valid
        .iter()
        .map(|a| pod::host_veth_name(&a.container_id, &a.ifname))
        .collect();
    block_on(async {
        let h = nl::connect()?;
        let Some(br) = nl::link_by_name(&h, &conf.bridge).await? else {
            return Ok(());
        };
        let links: Vec<_> = h
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| CniError::kernel("listing links", e))?;
        for l in links {
            let Some(name) = nl::name(&l) else { continue };
            if nl::controller(&l) == Some(br.header.index)
                && name.starts_with("nn")
                && name.len() == 13
                && !keep.contains(name)
            {
                nl::del_link(&h, l.header.index, name).await?;
            }
        }
        Ok(())
    })
}

fn status(conf: &NetConf) -> Result<()> {
    let ipam = Ipam::open(&conf.data_dir, conf.subnet, conf.gateway).map_err(|e| {
        CniError::with_details(Code::NotAvailable, "IPAM data directory unusable", e)
    })?;
    let free = ipam
        .free()
        .map_err(|e| CniError::with_details(Code::NotAvailable, "IPAM leases unreadable", e))?;
    if free == 0 {
        return Err(CniError::new(
            Code::NotAvailable,
            format!("subnet {} has no free address", conf.subnet),
        ));
    }
    if conf.ip_masq {
        masq::available().map_err(|e| {
            CniError::with_details(
                Code::NotAvailable,
                "ipMasq is on but nftables is unusable",
                e,
            )
        })?;
    }
    Ok(())
}

/// `nodenet sync`: reconcile the node (bridge, VXLAN device, peers, masquerade) with a
/// config file. Returns a one-line summary.
pub fn sync(conf: &NetConf) -> Result<String> {
    block_on(async {
        let h = nl::connect()?;
        let node = node::ensure(&h, conf, &conf.data_dir, true).await?;
        Ok(format!(
            "network {}: bridge {} mtu {}, {} peer(s){}",
            conf.name,
            conf.bridge,
            node.mtu,
            conf.peers.len(),
            match &node.underlay {
                Some(u) => format!(" over {} (vni {})", u.node_ip, conf.vxlan.vni),
                None => " (no overlay)".to_string(),
            }
        ))
    })
}

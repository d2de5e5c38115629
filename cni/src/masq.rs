//! Masquerade of pod traffic that leaves the cluster CIDR, programmed with nftables
//! (`nft -j` through the `nftables` crate) in a table of its own per network. Pod-to-pod
//! traffic (destination inside the cluster CIDR) is never masqueraded. A stamp file records
//! the last ruleset applied in this netns and boot, so ADD runs `nft` only when needed.

use std::borrow::Cow;
use std::path::Path;

use nftables::batch::Batch;
use nftables::expr::{Expression, NamedExpression, Payload, PayloadField, Prefix};
use nftables::helper::{self, NftablesError};
use nftables::schema::{Chain, NfListObject, Rule, Table};
use nftables::stmt::{Match, Operator, Statement};
use nftables::types::{NfChainType, NfFamily, NfHook};

use crate::config::NetConf;
use crate::error::{CniError, Code, Result};
use crate::stamp;

const STAMP_FILE: &str = "masq.stamp";
const CHAIN: &str = "postrouting";

/// The nftables table owned by network `name`.
pub fn table_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("nodenet_{clean}")
}

fn ip_match(field: &'static str, net: ipnet::Ipv4Net, op: Operator) -> Statement<'static> {
    Statement::Match(Match {
        left: Expression::Named(NamedExpression::Payload(Payload::PayloadField(
            PayloadField {
                protocol: Cow::Borrowed("ip"),
                field: Cow::Borrowed(field),
            },
        ))),
        right: Expression::Named(NamedExpression::Prefix(Prefix {
            addr: Box::new(Expression::String(Cow::Owned(net.network().to_string()))),
            len: net.prefix_len() as u32,
        })),
        op,
    })
}

fn table(name: &str) -> Table<'static> {
    Table {
        family: NfFamily::IP,
        name: Cow::Owned(table_name(name)),
        handle: None,
    }
}

/// The JSON batch that (re)creates the network's table atomically.
pub fn ruleset_json(conf: &NetConf) -> String {
    let mut b = Batch::new();
    // add+delete+add: recreate atomically whether or not the table existed.
    b.add(NfListObject::Table(table(&conf.name)));
    b.delete(NfListObject::Table(table(&conf.name)));
    b.add(NfListObject::Table(table(&conf.name)));
    b.add(NfListObject::Chain(Chain {
        family: NfFamily::IP,
        table: Cow::Owned(table_name(&conf.name)),
        name: Cow::Borrowed(CHAIN),
        _type: Some(NfChainType::NAT),
        hook: Some(NfHook::Postrouting),
        prio: Some(100),
        ..Chain::default()
    }));
    let multicast: ipnet::Ipv4Net =
        ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(224, 0, 0, 0), 4).unwrap_or_default();
    b.add(NfListObject::Rule(Rule {
        family: NfFamily::IP,
        table: Cow::Owned(table_name(&conf.name)),
        chain: Cow::Borrowed(CHAIN),
        expr: Cow::Owned(vec![
            ip_match("saddr", conf.subnet, Operator::EQ),
            ip_match("daddr", conf.cluster_cidr, Operator::NEQ),
            ip_match("daddr", multicast, Operator::NEQ),
            Statement::Masquerade(None),
        ]),
        handle: None,
        index: None,
        comment: Some(Cow::Borrowed(
            "nodenet: pod traffic leaving the cluster CIDR",
        )),
    }));
    serde_json::to_string(&b.to_nftables()).unwrap_or_default()
}

fn nft_error(what: &str, e: NftablesError) -> CniError {
    match e {
        NftablesError::NftExecution { inner, .. } => CniError::with_details(
            Code::Firewall,
            format!(
                "{what}: ipMasq needs the `nft` program (Debian package nftables), which could not be run"
            ),
            inner,
        ),
        NftablesError::NftFailed { stderr, .. } => {
            CniError::with_details(Code::Firewall, format!("{what}: nft failed"), stderr.trim())
        }
        other => CniError::with_details(Code::Firewall, what.to_string(), other),
    }
}

/// Apply (or remove, when ipMasq is off) the masquerade table. With `force` false, skip
/// `nft` when the stamp says this exact ruleset is already applied here.
pub fn ensure(conf: &NetConf, data_dir: &Path, force: bool) -> Result<()> {
    let stamp_path = data_dir.join(STAMP_FILE);
    if !conf.ip_masq {
        if force || stamp_path.exists() {
            // Without a runnable `nft` there is no table of ours to remove.
            if available().is_ok() {
                remove(conf)?;
            }
            stamp::clear(&stamp_path);
        }
        return Ok(());
    }
    let json = ruleset_json(conf);
    if !force && stamp::read(&stamp_path).as_deref() == Some(json.as_str()) {
        return Ok(());
    }
    helper::apply_ruleset_raw(&json, helper::DEFAULT_NFT, helper::DEFAULT_ARGS)
        .map_err(|e| nft_error("programming the masquerade rule", e))?;
    stamp::write(&stamp_path, &json)
}

/// Delete the network's table if present.
pub fn remove(conf: &NetConf) -> Result<()> {
    let mut b = Batch::new();
    b.add(NfListObject::Table(table(&conf.name)));
    b.delete(NfListObject::Table(table(&conf.name)));
    let json = serde_json::to_string(&b.to_nftables()).unwrap_or_default();
    helper::apply_ruleset_raw(&json, helper::DEFAULT_NFT, helper::DEFAULT_ARGS)
        .map_err(|e| nft_error("removing the masquerade table", e))?;
    Ok(())
}

/// Verify the table holds a masquerade rule for this subnet (CHECK, STATUS).
pub fn verify(conf: &NetConf) -> Result<()> {
    let name = table_name(&conf.name);
    let out = helper::get_current_ruleset_raw(
        helper::DEFAULT_NFT,
        ["list", "table", "ip", name.as_str()],
    )
    .map_err(|e| nft_error(&format!("reading nftables table ip {name}"), e))?;
    let subnet = conf.subnet.network().to_string();
    if out.contains("\"masquerade\"") && out.contains(&subnet) {
        Ok(())
    } else {
        Err(CniError::new(
            Code::CheckFailed,
            format!(
                "nftables table ip {name} has no masquerade rule for {}",
                conf.subnet
            ),
        ))
    }
}

/// Whether `nft` can be run at all.
pub fn available() -> Result<()> {
    helper::get_current_ruleset_raw(helper::DEFAULT_NFT, ["list", "tables"])
        .map(|_| ())
        .map_err(|e| nft_error("listing nftables tables", e))
}

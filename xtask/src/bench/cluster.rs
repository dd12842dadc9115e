//! `cargo xtask bench --cluster`: throughput through nginx with one and with two
//! replicas on one PostgreSQL (`cluster.rs`'s topology, release build), beside one
//! replica reached directly (what nginx costs), and where the machine's CPU time went
//! meanwhile (what limits it): wrk, nginx, the replicas and PostgreSQL all share its
//! cores.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::Context;

use super::{CONNECTIONS, DURATION, Result, wrk};
use crate::cluster;
use crate::live::{PASSWORD, seed_keys, sign_in};
use crate::util::free_port;

/// CPU seconds (user + system) by process name, summed over every process of it.
fn cpu_by_name() -> BTreeMap<String, f64> {
    let ticks: f64 = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0);
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let time = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // After the name: state is field 3 of stat(5); utime 14 and stime 15.
        *out.entry(name).or_insert(0.0) += (time(11) + time(12)) / ticks;
    }
    out
}

/// Process names grouped as the table shows them.
const GROUPS: [(&str, &[&str]); 4] = [
    ("wrk", &["wrk"]),
    ("nginx", &["nginx"]),
    ("gatehouse", &["gatehouse"]),
    ("postgres", &["postgres"]),
];

struct Run {
    topology: &'static str,
    health: Result,
    keyed: Result,
    /// A request that reads the database every time: the key's own key list.
    listed: Result,
    /// Share of the machine's CPU time during the keyed run, by group, and the rest.
    cpu: Vec<(&'static str, f64)>,
}

fn measure(topology_name: &'static str, base: &str, dir: &Path) -> anyhow::Result<Run> {
    let jar = dir.join(format!("cookies-{}", free_port()?));
    let csrf = sign_in(base, &jar, cluster::USERNAME)?;
    let secret = seed_keys(base, &jar, &csrf, 1, "cluster bench")?;
    let auth = format!("Authorization: Bearer {secret}");
    wrk(base, "/healthz", None, "2s", 8)?;
    wrk(base, "/api/v1/session", Some(&auth), "2s", 8)?;
    let connections = CONNECTIONS[0];
    let health = wrk(base, "/healthz", None, DURATION, connections)?;
    // Sampled while wrk still runs (its own time vanishes with its process).
    let sampler = std::thread::spawn(|| {
        let before = cpu_by_name();
        let started = Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(9_000));
        (before, cpu_by_name(), started.elapsed().as_secs_f64())
    });
    let keyed = wrk(base, "/api/v1/session", Some(&auth), DURATION, connections)?;
    let (before, after, wall) = sampler
        .join()
        .map_err(|_| anyhow::anyhow!("the CPU sampler failed"))?;
    let listed = wrk(base, "/api/v1/api-keys", Some(&auth), DURATION, connections)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let capacity = wall * cores;
    let used = |names: &[&str]| -> f64 {
        names
            .iter()
            .map(|n| after.get(*n).unwrap_or(&0.0) - before.get(*n).unwrap_or(&0.0))
            .sum()
    };
    let mut cpu: Vec<(&'static str, f64)> = GROUPS
        .iter()
        .map(|(group, names)| (*group, used(names) / capacity))
        .collect();
    let accounted: f64 = cpu.iter().map(|(_, share)| share).sum();
    cpu.push(("other or idle", (1.0 - accounted).max(0.0)));
    Ok(Run {
        topology: topology_name,
        health,
        keyed,
        listed,
        cpu,
    })
}

pub fn cluster_bench(bin: &Path, dir: &Path) -> anyhow::Result<()> {
    let mut runs = Vec::new();
    for replicas in [1usize, 2] {
        let topology = cluster::start(bin, replicas, free_port()?, PASSWORD)
            .with_context(|| format!("starting the cluster with {replicas} replica(s)"))?;
        if replicas == 1 {
            runs.push(measure(
                "1 replica, direct (no nginx)",
                &topology.replica_base(0),
                dir,
            )?);
            runs.push(measure("1 replica behind nginx", &topology.base(), dir)?);
        } else {
            runs.push(measure("2 replicas behind nginx", &topology.base(), dir)?);
        }
        drop(topology);
    }
    let one = runs
        .iter()
        .find(|r| r.topology == "1 replica behind nginx")
        .map(|r| (r.health.rps, r.keyed.rps, r.listed.rps));
    println!();
    println!(
        "Gatehouse on PostgreSQL through Debian's nginx (deploy/nginx.conf): release build, \
         wrk -t2 -c{} -d{DURATION}, everything on this machine",
        CONNECTIONS[0]
    );
    println!();
    println!("| topology | route | requests/s | p50 | p99 | vs 1 replica behind nginx |");
    println!("|---|---|---:|---:|---:|---:|");
    for r in &runs {
        for (route, res, base) in [
            ("GET /healthz", &r.health, one.map(|o| o.0)),
            ("GET /api/v1/session, API key", &r.keyed, one.map(|o| o.1)),
            (
                "GET /api/v1/api-keys, API key (reads PostgreSQL)",
                &r.listed,
                one.map(|o| o.2),
            ),
        ] {
            println!(
                "| {} | {route} | {:.0} | {:.2} ms | {:.2} ms | {} |",
                r.topology,
                res.rps,
                res.p50_ms,
                res.p99_ms,
                base.map_or(String::new(), |b| format!("{:.2}×", res.rps / b))
            );
        }
    }
    println!();
    println!("Where the machine's CPU time went during the API-key run:");
    println!();
    let header: Vec<&str> = runs[0].cpu.iter().map(|(g, _)| *g).collect();
    println!("| topology | {} |", header.join(" | "));
    println!("|---|{}", "---:|".repeat(header.len()));
    for r in &runs {
        let cells: Vec<String> = r
            .cpu
            .iter()
            .map(|(_, share)| format!("{:.0} %", share * 100.0))
            .collect();
        println!("| {} | {} |", r.topology, cells.join(" | "));
    }
    Ok(())
}

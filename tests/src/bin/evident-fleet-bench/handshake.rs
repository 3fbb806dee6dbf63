//! `handshake`: the CPU one new agent connection costs the collector's TLS
//! server, without sockets or scheduling in the way.
//!
//! Client and server connections are driven in memory, one handshake after
//! the other on one thread, timing each side's calls apart. The server side
//! is the collector's own configuration (`tls::server_config`), with and
//! without its Ed25519 certificate for agents, and, for comparison,
//! rustls' defaults on the P-256 certificate (the client's order of
//! suites, two session tickets per connection). The client is the
//! agent's: `ring`, rustls' default order, and no resumption — each run is
//! uploaded by a new worker process, so it never holds a ticket. Rounds
//! alternate the servers so that a busy machine slows them alike.

use anyhow::{anyhow, Result};
use evident_collector::tls;
use rustls::{ClientConnection, ServerConnection};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of `handshake`.
#[derive(clap::Args)]
pub struct HandshakeArgs {
    /// Handshakes per server configuration and round.
    #[arg(long, default_value_t = 2000)]
    n: usize,
    /// Rounds (each runs both configurations); the median round is reported.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

/// One handshake's cost on each side.
#[derive(Default, Clone, Copy)]
struct Cost {
    server: Duration,
    client: Duration,
    server_bytes: usize,
    flights: usize,
}

/// Move what `from` has to send into `to` and let `to` process it: the
/// time each side spent and the bytes moved.
fn send<A, B>(
    from: &mut rustls::ConnectionCommon<A>,
    to: &mut rustls::ConnectionCommon<B>,
) -> Result<(Duration, Duration, usize)> {
    let mut buf = Vec::new();
    let t = Instant::now();
    while from.wants_write() {
        from.write_tls(&mut buf)?;
    }
    let from_time = t.elapsed();
    let t = Instant::now();
    let mut rd = buf.as_slice();
    while !rd.is_empty() {
        to.read_tls(&mut rd)?;
    }
    to.process_new_packets()?;
    Ok((from_time, t.elapsed(), buf.len()))
}

/// Drive one full handshake (and the server's post-handshake messages).
fn handshake(
    client: &Arc<rustls::ClientConfig>,
    server: &Arc<rustls::ServerConfig>,
) -> Result<Cost> {
    let mut cost = Cost::default();
    let name = rustls::pki_types::ServerName::try_from("collector.example")?;
    let mut c = ClientConnection::new(client.clone(), name)?;
    let t = Instant::now();
    let mut s = ServerConnection::new(server.clone())?;
    cost.server += t.elapsed();
    for _ in 0..16 {
        let (client_write, server_read, _) = send(&mut c, &mut s)?;
        let (server_write, client_read, bytes) = send(&mut s, &mut c)?;
        cost.client += client_write + client_read;
        cost.server += server_read + server_write;
        if bytes > 0 {
            cost.flights += 1;
            cost.server_bytes += bytes;
        }
        if !c.is_handshaking() && !s.is_handshaking() && !s.wants_write() && !c.wants_write() {
            return Ok(cost);
        }
    }
    Err(anyhow!("the handshake did not finish"))
}

/// `n` handshakes: mean cost per handshake.
fn measure(
    client: &Arc<rustls::ClientConfig>,
    server: &Arc<rustls::ServerConfig>,
    n: usize,
) -> Result<Cost> {
    let mut sum = Cost::default();
    for _ in 0..n {
        let c = handshake(client, server)?;
        sum.server += c.server;
        sum.client += c.client;
        sum.server_bytes += c.server_bytes;
        sum.flights += c.flights;
    }
    let n32 = u32::try_from(n.max(1))?;
    Ok(Cost {
        server: sum.server / n32,
        client: sum.client / n32,
        server_bytes: sum.server_bytes / n.max(1),
        flights: sum.flights / n.max(1),
    })
}

fn suite(client: &Arc<rustls::ClientConfig>, server: &Arc<rustls::ServerConfig>) -> Result<String> {
    let name = rustls::pki_types::ServerName::try_from("collector.example")?;
    let mut c = ClientConnection::new(client.clone(), name)?;
    let mut s = ServerConnection::new(server.clone())?;
    send(&mut c, &mut s)?;
    Ok(s.negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_default())
}

/// Run `handshake`.
pub fn run(a: HandshakeArgs) -> Result<()> {
    let g = tls::generate(&["collector.example".into()])?;
    let p256 = Arc::new(tls::server_config(
        g.server.chain_pem.as_bytes(),
        g.server.key_pem.as_bytes(),
        None,
    )?);
    let ours = Arc::new(tls::server_config(
        g.server.chain_pem.as_bytes(),
        g.server.key_pem.as_bytes(),
        Some((
            g.server.ed25519_chain_pem.as_bytes(),
            g.server.ed25519_key_pem.as_bytes(),
        )),
    )?);
    let defaults = {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_slice_iter(g.server.chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_slice(g.server.key_pem.as_bytes())?;
        let mut c = rustls::ServerConfig::builder_with_provider(tls::provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        c.alpn_protocols = ours.alpn_protocols.clone();
        Arc::new(c)
    };
    let mut client = tls::client_config(g.ca_pem.as_bytes())?;
    client.resumption = rustls::client::Resumption::disabled();
    let client = Arc::new(client);

    let mut rows: Vec<(&str, Arc<rustls::ServerConfig>, Vec<Cost>)> = vec![
        (
            "rustls defaults (client's suite order, 2 tickets)",
            defaults,
            Vec::new(),
        ),
        (
            "the collector's, its P-256 certificate alone (a data directory without `tls_cert_ed25519`)",
            p256,
            Vec::new(),
        ),
        (
            "the collector's as `init` configures it (Ed25519 certificate for agents)",
            ours,
            Vec::new(),
        ),
    ];
    for round in 0..a.rounds {
        for (_, server, costs) in rows.iter_mut() {
            costs.push(measure(&client, server, a.n)?);
        }
        eprintln!("round {} of {} done", round + 1, a.rounds);
    }
    println!(
        "## TLS handshake cost, in memory ({} handshakes × {} rounds, median round)\n",
        a.n, a.rounds
    );
    println!("| server configuration | suite | server CPU per handshake | client CPU | bytes server → client | server flights |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (label, server, mut costs) in rows {
        costs.sort_by_key(|c| c.server);
        let mid = costs
            .get(costs.len() / 2)
            .copied()
            .ok_or_else(|| anyhow!("--rounds must be at least 1"))?;
        println!(
            "| {label} | {} | {:.1} µs | {:.1} µs | {} | {} |",
            suite(&client, &server)?,
            mid.server.as_secs_f64() * 1e6,
            mid.client.as_secs_f64() * 1e6,
            mid.server_bytes,
            mid.flights,
        );
    }
    Ok(())
}

//! Query latency through HTTP against a running `imgdex serve`, with one
//! keep-alive connection: N queries for stored images by path (the
//! resident ANN index, no CNN), or N uploads of one image file (decode +
//! CNN + search). Prints p50/p90/p99/mean in milliseconds. Used by
//! scripts/bench_serve.
//!
//!     cargo run --release --example serve_latency -- URL path N [PREFIX COUNT]
//!     cargo run --release --example serve_latency -- URL upload N FILE
//!
//! Uploads act (they run the CNN), so they send the server's API token,
//! taken from `$IMGDEX_TOKEN`.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: serve_latency URL path N [PREFIX COUNT] | URL upload N FILE";
    let (url, mode, n) = match args.as_slice() {
        [_, url, mode, n, ..] => (url.clone(), mode.clone(), n.parse::<usize>()?),
        _ => return Err(usage.into()),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let token = std::env::var("IMGDEX_TOKEN").unwrap_or_default();
    let upload = match mode.as_str() {
        "upload" => Some(std::fs::read(args.get(4).ok_or(usage)?)?),
        _ => None,
    };
    let prefix = args.get(4).cloned().unwrap_or("/synthetic/".into());
    let count: u64 = args
        .get(5)
        .map(|c| c.parse())
        .transpose()?
        .unwrap_or(200_000);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut times = Vec::with_capacity(n);
    for i in 0..n + 20 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let id = 1 + (state >> 33) % count;
        let t = Instant::now();
        let body = match &upload {
            Some(bytes) => agent
                .post(format!("{url}/api/query?k=10"))
                .header("x-imgdex-token", &token)
                .header("content-type", "application/octet-stream")
                .send(&bytes[..])?
                .body_mut()
                .read_to_string()?,
            None => agent
                .get(format!("{url}/api/query?k=10&path={prefix}{id:07}.jpg"))
                .call()?
                .body_mut()
                .read_to_string()?,
        };
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if !body.starts_with('[') {
            return Err(format!("unexpected answer: {body}").into());
        }
        if i >= 20 {
            times.push(ms); // the first 20 warm the connection and caches
        }
    }
    times.sort_by(f64::total_cmp);
    let q = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    println!(
        "{mode}: {n} requests, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, mean {mean:.2} ms, max {:.2} ms",
        q(0.5),
        q(0.9),
        q(0.99),
        q(1.0)
    );
    Ok(())
}

//! Who the client is: its address as far as the service can believe it, the
//! network it counts as (IPv6 by its /64), and how many connections it holds.
//!
//! The client IP is the peer address, unless the peer is a trusted proxy: then
//! `X-Forwarded-For` is read from right to left (the order proxies append in),
//! skipping trusted hops; the first hop that is not trusted is the client. A hop
//! may carry a port (`203.0.113.9:4711`, `[2001:db8::1]:443`). A hop that is not
//! an address at all (`unknown`, an obfuscated name) stops the walk: what is left
//! of it was written by the client and proves nothing, so the client counts as
//! the trusted proxy that reported it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::{Extensions, Payload};
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::{Ready, ready};
use ipnet::IpNet;

use crate::domain::{Requester, client_network};

/// Finds the client's IP.
#[derive(Debug, Clone)]
pub struct ClientIp {
    trusted: Arc<Vec<IpNet>>,
    ipv6_prefix: u8,
}

impl ClientIp {
    pub fn new(trusted: Vec<IpNet>, ipv6_prefix: u8) -> Self {
        Self {
            trusted: Arc::new(trusted),
            ipv6_prefix,
        }
    }

    /// Whether `ip` is a trusted proxy. An IPv4 peer seen on a dual-stack
    /// listener (`::ffff:10.0.0.1`) is its IPv4 address.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request from `peer` carrying `forwarded_for` headers.
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded_for
            .iter()
            .flat_map(|header| header.split(','))
            .map(str::trim)
            .collect();
        let mut reporter = peer;
        for hop in hops.iter().rev() {
            match parse_hop(hop) {
                Some(ip) if self.is_trusted(ip) => reporter = ip,
                Some(ip) => return ip,
                None => return reporter,
            }
        }
        // Every hop is trusted: the farthest one is the best guess.
        hops.first().and_then(|hop| parse_hop(hop)).unwrap_or(peer)
    }

    /// The network the client of `request` counts as: what per-IP quotas and
    /// per-requester limits are keyed by.
    pub fn network_of(&self, peer: Option<SocketAddr>, forwarded_for: &[&str]) -> IpAddr {
        let peer = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip());
        client_network(self.client(peer, forwarded_for), self.ipv6_prefix)
    }

    pub fn requester(&self, request: &HttpRequest) -> Requester {
        let forwarded: Vec<&str> = request
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .collect();
        match request.peer_addr() {
            Some(peer) => {
                Requester::from_ip(self.network_of(Some(peer), &forwarded), self.ipv6_prefix)
            }
            None => Requester::local(),
        }
    }
}

/// An address, with or without a port, IPv4-mapped IPv6 read as IPv4.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse().ok())
        })
        .map(|ip: IpAddr| ip.to_canonical())
}

/// The request's [`Requester`], for the flows.
impl FromRequest for Requester {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let requester = match request.app_data::<web::Data<ClientIp>>() {
            Some(client_ip) => client_ip.requester(request),
            None => Requester::local(),
        };
        ready(Ok(requester))
    }
}

/// Open connections per client network. Each accepted connection takes a
/// [`ConnectionSlot`] (kept in the connection's data, given back when it closes);
/// one over the limit is shut at once (or, if it could not be, answered 429 and
/// closed at its first request).
///
/// The slot also watches the connection between requests. actix-web bounds the
/// time to a connection's *first* request head; on a kept-alive connection the
/// next head could be trickled in a byte at a time for ever. A connection that
/// has been between requests (not in one, not answered moments ago) for longer
/// than `idle_limit` is shut down. A healthy kept-alive connection is closed by
/// the server's own keep-alive timeout well before that.
#[derive(Clone)]
pub struct Connections {
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
    limit: u32,
    client_ip: ClientIp,
    idle_limit: Duration,
}

/// One open connection's place in the count, and what its watchdog needs.
pub struct ConnectionSlot {
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
    network: IpAddr,
    /// The connection is beyond its client's limit.
    pub over_limit: bool,
    activity: Arc<Activity>,
    /// A second handle on the socket, for the watchdog to shut it down with;
    /// closed (and the watchdog stopped) when the connection ends.
    socket: Arc<Mutex<Option<std::net::TcpStream>>>,
    watchdog: Option<actix_web::rt::task::JoinHandle<()>>,
}

/// Whether a connection is in a request, and when it last started or finished one.
struct Activity {
    requests: AtomicUsize,
    since: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let now = self.since.elapsed();
        now.saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }
}

impl ConnectionSlot {
    /// A request on this connection starts (its head has arrived); it counts as
    /// running until the returned guard is dropped.
    pub fn request_started(&self) -> InRequest {
        self.activity.requests.fetch_add(1, Ordering::Relaxed);
        self.activity.touch();
        InRequest(self.activity.clone())
    }
}

/// A request in progress on a watched connection.
pub struct InRequest(Arc<Activity>);

impl Drop for InRequest {
    fn drop(&mut self) {
        self.0.requests.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

impl Connections {
    pub fn new(limit: u32, client_ip: ClientIp, idle_limit: Duration) -> Self {
        Self {
            open: Arc::new(Mutex::new(HashMap::new())),
            limit,
            client_ip,
            idle_limit,
        }
    }

    /// For `HttpServer::on_connect`: counts a new connection from `peer`, and
    /// watches it through `socket` (a handle on the same socket). A trusted
    /// proxy's connections are not counted (they carry many clients), and the
    /// proxy enforces its own timeouts.
    pub fn on_connect(
        &self,
        peer: SocketAddr,
        socket: Option<std::net::TcpStream>,
        data: &mut Extensions,
    ) {
        if self.client_ip.is_trusted(peer.ip()) {
            return;
        }
        let network = client_network(peer.ip(), self.client_ip.ipv6_prefix);
        let over_limit = {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            let count = open.entry(network).or_insert(0);
            *count += 1;
            *count > self.limit
        };
        let activity = Arc::new(Activity {
            requests: AtomicUsize::new(0),
            since: Instant::now(),
            last_ms: AtomicU64::new(0),
        });
        // Beyond the limit the connection is shut at once: a client that opens
        // connections and sends nothing must not hold descriptors for it.
        let socket = match socket {
            Some(socket) if over_limit => {
                let _ = socket.shutdown(std::net::Shutdown::Both);
                None
            }
            socket => socket,
        };
        let watching = socket.is_some();
        let socket = Arc::new(Mutex::new(socket));
        let watchdog = watching
            .then(|| watch(activity.clone(), socket.clone(), self.idle_limit))
            .flatten();
        data.insert(ConnectionSlot {
            open: self.open.clone(),
            network,
            over_limit,
            activity,
            socket,
            watchdog,
        });
    }

    /// Client networks holding connections now.
    pub fn networks(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Shuts the connection down once it has been between requests for longer than
/// `idle_limit`. `None` outside a runtime (unit tests): nothing is watched.
fn watch(
    activity: Arc<Activity>,
    socket: Arc<Mutex<Option<std::net::TcpStream>>>,
    idle_limit: Duration,
) -> Option<actix_web::rt::task::JoinHandle<()>> {
    tokio::runtime::Handle::try_current().ok()?;
    Some(actix_web::rt::spawn(async move {
        loop {
            let idle = activity.idle_for();
            if activity.requests.load(Ordering::Relaxed) == 0 && idle >= idle_limit {
                if let Some(socket) = socket.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    let _ = socket.shutdown(std::net::Shutdown::Both);
                }
                return;
            }
            let wait = idle_limit
                .saturating_sub(idle)
                .max(Duration::from_millis(200));
            actix_web::rt::time::sleep(wait).await;
        }
    }))
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.abort();
        }
        // Our handle on the socket must not keep it open past the connection.
        drop(self.socket.lock().unwrap_or_else(|p| p.into_inner()).take());
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.network) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.network);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    fn behind(proxies: &[&str]) -> ClientIp {
        ClientIp::new(proxies.iter().map(|p| p.parse().unwrap()).collect(), 64)
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_it_claims() {
        let client = behind(&[]).client(ip("203.0.113.7"), &["198.51.100.1"]);
        assert_eq!(client, ip("203.0.113.7"));
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
        let proxies = behind(&["10.0.0.0/8", "192.0.2.1/32"]);
        // The client forged the first entry; the proxies appended the rest.
        let client = proxies.client(ip("10.1.2.3"), &["1.1.1.1, 203.0.113.9", "192.0.2.1"]);
        assert_eq!(client, ip("203.0.113.9"));
    }

    #[test]
    fn hops_with_ports_are_read() {
        let proxies = behind(&["10.0.0.0/8"]);
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &["1.1.1.1, 203.0.113.9:4711, 10.0.0.9:80"]),
            ip("203.0.113.9")
        );
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &["1.1.1.1, [2001:db8::7]:443"]),
            ip("2001:db8::7")
        );
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &["[2001:db8::8]"]),
            ip("2001:db8::8")
        );
    }

    #[test]
    fn a_hop_that_is_not_an_address_stops_the_walk_at_the_proxy_that_wrote_it() {
        let proxies = behind(&["10.0.0.0/8"]);
        // Whatever the client put left of "unknown" is not believed.
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &["203.0.113.50, unknown, 10.0.0.9"]),
            ip("10.0.0.9")
        );
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &["203.0.113.50, garbage"]),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn ipv4_peers_on_a_dual_stack_listener_are_recognised() {
        let proxies = behind(&["127.0.0.1/32"]);
        assert_eq!(
            proxies.client(ip("::ffff:127.0.0.1"), &["198.51.100.1"]),
            ip("198.51.100.1")
        );
        assert_eq!(
            proxies.client(ip("::ffff:127.0.0.1"), &["::ffff:198.51.100.2"]),
            ip("198.51.100.2")
        );
        let connections = Connections::new(1, proxies, Duration::from_secs(10));
        let mut data = Extensions::new();
        connections.on_connect("[::ffff:127.0.0.1]:5000".parse().unwrap(), None, &mut data);
        assert!(
            data.get::<ConnectionSlot>().is_none(),
            "the proxy is not counted"
        );
    }

    #[test]
    fn a_peer_that_is_not_trusted_cannot_forward_for_anyone() {
        let proxies = behind(&["10.0.0.0/8"]);
        assert_eq!(
            proxies.client(ip("203.0.113.7"), &["10.0.0.1"]),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn when_every_hop_is_trusted_the_leftmost_is_the_client() {
        let proxies = behind(&["10.0.0.0/8"]);
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &["10.0.0.9, 10.0.0.1"]),
            ip("10.0.0.9")
        );
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let proxies = behind(&["10.0.0.0/8"]);
        let a = proxies.network_of(Some("10.0.0.2:1".parse().unwrap()), &["2001:db8:0:1::aa"]);
        let b = proxies.network_of(
            Some("10.0.0.2:1".parse().unwrap()),
            &["2001:db8:0:1:ffff::1"],
        );
        assert_eq!(a, b);
        assert_eq!(a, ip("2001:db8:0:1::"));
    }

    #[test]
    fn connections_over_the_limit_are_marked_and_given_back_on_close() {
        let connections = Connections::new(2, behind(&["10.0.0.0/8"]), Duration::from_secs(10));
        let peer: SocketAddr = "203.0.113.7:1000".parse().unwrap();
        let mut slots: Vec<Extensions> = (0..3)
            .map(|_| {
                let mut data = Extensions::new();
                connections.on_connect(peer, None, &mut data);
                data
            })
            .collect();
        let over: Vec<bool> = slots
            .iter()
            .map(|data| data.get::<ConnectionSlot>().unwrap().over_limit)
            .collect();
        assert_eq!(over, [false, false, true]);
        let mut proxy = Extensions::new();
        connections.on_connect("10.0.0.1:1".parse().unwrap(), None, &mut proxy);
        assert!(
            proxy.get::<ConnectionSlot>().is_none(),
            "a trusted proxy is not counted"
        );
        slots.clear();
        assert_eq!(
            connections.networks(),
            0,
            "closed connections are given back"
        );
    }
}

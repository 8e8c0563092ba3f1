//! Per-client-IP rate limits (GCRA, through actix-governor): send-otp,
//! verify-otp and register each have their own quotas. Counters live in memory,
//! per instance — the one piece of state that is not shared: behind a load
//! balancer each instance allows the quota, which bounds an attacker all the same.
//!
//! The client IP is the peer address, unless the peer is a trusted proxy: then
//! `X-Forwarded-For` is read from right to left and the first address that is not
//! a trusted proxy is the client.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use actix_governor::governor::NotUntil;
use actix_governor::governor::clock::{Clock, DefaultClock, QuantaInstant};
use actix_governor::governor::middleware::NoOpMiddleware;
use actix_governor::{Governor, GovernorConfig, GovernorConfigBuilder, KeyExtractor};
use actix_web::dev::ServiceRequest;
use actix_web::http::header::ContentType;
use actix_web::middleware::Condition;
use actix_web::{HttpResponse, HttpResponseBuilder};
use ipnet::IpNet;

use super::errors::ErrorBody;
use crate::config::RateLimits;

/// Finds the client's IP.
#[derive(Debug, Clone)]
pub struct ClientIp {
    trusted: Arc<Vec<IpNet>>,
}

impl ClientIp {
    pub fn new(trusted: Vec<IpNet>) -> Self {
        Self {
            trusted: Arc::new(trusted),
        }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request from `peer` carrying `forwarded_for` headers.
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        if !self.is_trusted(peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = forwarded_for
            .iter()
            .flat_map(|header| header.split(','))
            .filter_map(|hop| hop.trim().parse().ok())
            .collect();
        hops.iter()
            .rev()
            .find(|hop| !self.is_trusted(**hop))
            .or(hops.first())
            .copied()
            .unwrap_or(peer)
    }
}

impl KeyExtractor for ClientIp {
    type Key = IpAddr;
    type KeyExtractionError = actix_governor::SimpleKeyExtractionError<&'static str>;

    fn extract(&self, request: &ServiceRequest) -> Result<IpAddr, Self::KeyExtractionError> {
        let peer = request
            .peer_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip());
        let forwarded: Vec<&str> = request
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .collect();
        Ok(self.client(peer, &forwarded))
    }

    /// The service's JSON error; actix-governor has set `Retry-After`.
    fn exceed_rate_limit_response(
        &self,
        negative: &NotUntil<QuantaInstant>,
        mut response: HttpResponseBuilder,
    ) -> HttpResponse {
        let wait = negative.wait_time_from(DefaultClock::default().now());
        log::info!(
            target: crate::events::TARGET,
            "IP_RATE_LIMITED retry_after={}",
            wait.as_secs().max(1)
        );
        response.content_type(ContentType::json()).json(ErrorBody {
            detail: "Too many requests from this address; try again later",
            code: "rate_limited",
        })
    }
}

type Config = GovernorConfig<ClientIp, NoOpMiddleware>;

/// One quota: `count` requests per `period`, bursting up to `count`.
#[derive(Clone)]
pub struct Limit {
    config: Config,
    enabled: bool,
}

impl Limit {
    fn new(client_ip: &ClientIp, count: u32, period: Duration, enabled: bool) -> Self {
        let count = count.max(1);
        let config = GovernorConfigBuilder::default()
            .key_extractor(client_ip.clone())
            .period(period / count)
            .burst_size(count)
            .finish()
            .expect("a non-zero quota");
        Self {
            config,
            enabled: enabled && count > 0,
        }
    }

    /// The middleware; a pass-through when this limit is off.
    pub fn middleware(&self) -> Condition<Governor<ClientIp, NoOpMiddleware>> {
        Condition::new(self.enabled, Governor::new(&self.config))
    }
}

/// Every quota, shared by all workers of one instance.
#[derive(Clone)]
pub struct IpLimits {
    pub send_per_minute: Limit,
    pub send_per_hour: Limit,
    pub verify_per_5_minutes: Limit,
    pub register_per_minute: Limit,
    pub register_per_hour: Limit,
}

impl IpLimits {
    pub fn new(limits: &RateLimits) -> Self {
        let client_ip = ClientIp::new(limits.trusted_proxies.clone());
        let limit = |count: u32, period: Duration| {
            Limit::new(&client_ip, count, period, limits.enabled && count > 0)
        };
        const MINUTE: Duration = Duration::from_secs(60);
        const HOUR: Duration = Duration::from_secs(3600);
        Self {
            send_per_minute: limit(limits.send_per_minute, MINUTE),
            send_per_hour: limit(limits.send_per_hour, HOUR),
            verify_per_5_minutes: limit(limits.verify_per_5_minutes, 5 * MINUTE),
            register_per_minute: limit(limits.register_per_minute, MINUTE),
            register_per_hour: limit(limits.register_per_hour, HOUR),
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
        ClientIp::new(proxies.iter().map(|p| p.parse().unwrap()).collect())
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
        assert_eq!(proxies.client(ip("10.0.0.2"), &["garbage"]), ip("10.0.0.2"));
    }
}

//! Per-client-IP rate limits (GCRA, through actix-governor): send-otp,
//! verify-otp and register each have their own quotas. Counters live in memory,
//! per instance — the one piece of state that is not shared: behind a load
//! balancer each instance allows the quota, which bounds an attacker all the same.
//!
//! The client is found by [`ClientIp`] (trusted proxies, `X-Forwarded-For`), and
//! counted by its network: an IPv6 client by its /64, so that the addresses of
//! one subscriber line share one quota. Entries of clients idle for longer than
//! their quota's period are pruned, so memory stays flat under a flood of
//! distinct addresses.

use std::net::IpAddr;
use std::time::Duration;

use super::client::ClientIp;
use super::{ApiError, ErrorCode};
use actix_governor::governor::NotUntil;
use actix_governor::governor::clock::{Clock, DefaultClock, QuantaInstant};
use actix_governor::governor::middleware::NoOpMiddleware;
use actix_governor::{Governor, GovernorConfig, GovernorConfigBuilder, KeyExtractor};
use actix_web::dev::ServiceRequest;
use actix_web::http::header::ContentType;
use actix_web::middleware::Condition;
use actix_web::{HttpResponse, HttpResponseBuilder};

/// Per-client-IP quotas. A count of 0 turns that one quota off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// `IP_RATE_LIMITS=off` turns every quota off (load tests from one address).
    pub enabled: bool,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Leading bits of an IPv6 address that name one client.
    pub ipv6_prefix: u8,
    pub send_per_minute: u32,
    pub send_per_hour: u32,
    pub verify_per_5_minutes: u32,
    pub register_per_minute: u32,
    pub register_per_hour: u32,
}

impl KeyExtractor for ClientIp {
    type Key = IpAddr;
    type KeyExtractionError = actix_governor::SimpleKeyExtractionError<&'static str>;

    fn extract(&self, request: &ServiceRequest) -> Result<IpAddr, Self::KeyExtractionError> {
        let forwarded: Vec<&str> = request
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .collect();
        Ok(self.network_of(request.peer_addr(), &forwarded))
    }

    /// The service's JSON error; actix-governor has set the status and `Retry-After`.
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
        let error = ApiError::new(
            ErrorCode::RateLimited,
            "Too many requests from this address; try again later",
        );
        response
            .content_type(ContentType::json())
            .json(error.body())
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

    /// Forgets clients whose quota is whole again; returns how many are left.
    fn prune(&self) -> usize {
        let limiter = self.config.limiter();
        limiter.retain_recent();
        limiter.shrink_to_fit();
        limiter.len()
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
    pub fn new(limits: &RateLimits, client_ip: &ClientIp) -> Self {
        let limit = |count: u32, period: Duration| {
            Limit::new(client_ip, count, period, limits.enabled && count > 0)
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

    /// Forgets every client whose quotas are whole again; returns how many
    /// clients are still tracked.
    pub fn prune(&self) -> usize {
        [
            &self.send_per_minute,
            &self.send_per_hour,
            &self.verify_per_5_minutes,
            &self.register_per_minute,
            &self.register_per_hour,
        ]
        .iter()
        .map(|limit| limit.prune())
        .sum()
    }

    /// Prunes every `every`, for as long as the service runs.
    pub async fn keep_pruned(self, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            self.prune();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn clients_whose_quota_is_whole_again_are_forgotten() {
        let client_ip = ClientIp::new(Vec::new(), 64);
        // One request per 20 ms: a client's entry is whole again 20 ms after its request.
        let limit = Limit::new(&client_ip, 1, Duration::from_millis(20), true);
        let limiter = limit.config.limiter();
        for n in 0..10_000u32 {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n));
            assert!(limiter.check_key(&ip).is_ok());
        }
        assert_eq!(limiter.len(), 10_000, "one entry per client");

        std::thread::sleep(Duration::from_millis(50));

        assert_eq!(limit.prune(), 0, "idle clients take no memory");
    }
}

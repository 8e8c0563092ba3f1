use std::fmt;
use std::net::IpAddr;

/// Who is asking, as far as the service can tell: the client's network. An IPv4
/// client is its address; an IPv6 client is its /64 by default (one subscriber
/// line or host usually holds a whole /64, so each address of it is not a new
/// client). Limits that a stranger could otherwise use up for the owner of an
/// address (send caps, wrong-code lockouts) count per requester.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Requester(String);

/// How many leading bits of an IPv6 address name one client (`IPV6_CLIENT_PREFIX`).
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

impl Requester {
    /// The network of `ip`: IPv4 as is, IPv6 cut to its first `ipv6_prefix` bits.
    pub fn from_ip(ip: IpAddr, ipv6_prefix: u8) -> Self {
        Self(match client_network(ip, ipv6_prefix) {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) if ipv6_prefix >= 128 => v6.to_string(),
            IpAddr::V6(v6) => format!("{v6}/{ipv6_prefix}"),
        })
    }

    /// A caller with no network address: the command line, or a socket without a peer.
    pub fn local() -> Self {
        Self("local".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `ip` with an IPv6 address's bits past `ipv6_prefix` cleared (IPv4-mapped
/// IPv6 addresses count as the IPv4 address they carry).
pub fn client_network(ip: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u32::from(ipv6_prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        },
    }
}

impl fmt::Display for Requester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Requester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Requester({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requester(raw: &str, prefix: u8) -> String {
        Requester::from_ip(raw.parse().unwrap(), prefix).to_string()
    }

    #[test]
    fn an_ipv4_client_is_its_address() {
        assert_eq!(requester("203.0.113.7", 64), "203.0.113.7");
    }

    #[test]
    fn every_address_of_one_ipv6_64_is_one_requester() {
        let a = requester("2001:db8:1:2:aaaa::1", 64);
        let b = requester("2001:db8:1:2:ffff:ffff:ffff:ffff", 64);
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(a, b);
        assert_ne!(a, requester("2001:db8:1:3::1", 64));
        assert_eq!(requester("2001:db8:1:2::1", 48), "2001:db8:1::/48");
        assert_eq!(requester("2001:db8::1", 128), "2001:db8::1");
    }

    #[test]
    fn ipv4_mapped_ipv6_counts_as_ipv4() {
        assert_eq!(requester("::ffff:198.51.100.4", 64), "198.51.100.4");
    }
}

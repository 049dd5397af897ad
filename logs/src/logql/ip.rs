//! IP address matching for `|= ip("...")` line filters and
//! `| label = ip("...")` label filters, as Loki does it: the pattern is a
//! single address, a CIDR prefix or an `a-b` range (IPv4 or IPv6), and the
//! text is scanned for address-looking runs that fall inside it.

use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum IpMatcher {
    Single(IpAddr),
    Prefix { network: IpAddr, bits: u8 },
    Range { first: IpAddr, last: IpAddr },
}

const IPV4_CHARSET: &[u8] = b"0123456789.";
const IPV6_CHARSET: &[u8] = b"0123456789abcdefABCDEF:.";

impl IpMatcher {
    /// Parses a pattern; the error is Loki's `ip: invalid pattern: "..."`.
    pub(crate) fn parse(pattern: &str) -> Result<IpMatcher, String> {
        if let Ok(address) = pattern.parse::<IpAddr>() {
            return Ok(IpMatcher::Single(address));
        }
        if let Some((address, bits)) = pattern.split_once('/') {
            if let (Ok(network), Ok(bits)) = (address.parse::<IpAddr>(), bits.parse::<u8>()) {
                let max_bits = if network.is_ipv4() { 32 } else { 128 };
                if bits <= max_bits && !bits_have_leading_zero(address, pattern) {
                    return Ok(IpMatcher::Prefix { network, bits });
                }
            }
        }
        if let Some((first, last)) = pattern.split_once('-') {
            if let (Ok(first), Ok(last)) = (first.parse::<IpAddr>(), last.parse::<IpAddr>()) {
                if first.is_ipv4() == last.is_ipv4() && first <= last {
                    return Ok(IpMatcher::Range { first, last });
                }
            }
        }
        Err(format!(
            "ip: invalid pattern: {}",
            super::units::go_quote(pattern)
        ))
    }

    fn contains(&self, address: IpAddr) -> bool {
        match *self {
            IpMatcher::Single(single) => single == address,
            IpMatcher::Prefix { network, bits } => match (network, address) {
                (IpAddr::V4(network), IpAddr::V4(address)) => {
                    let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
                    u32::from(network) & mask == u32::from(address) & mask
                }
                (IpAddr::V6(network), IpAddr::V6(address)) => {
                    let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
                    u128::from(network) & mask == u128::from(address) & mask
                }
                _ => false,
            },
            IpMatcher::Range { first, last } => {
                first.is_ipv4() == address.is_ipv4() && first <= address && address <= last
            }
        }
    }

    /// Whether `text` contains an address inside the pattern (Loki's scan).
    pub(crate) fn matches_in(&self, text: &str) -> bool {
        let bytes = text.as_bytes();
        let length = bytes.len();
        let mut index = 0;
        while index < length {
            let charset = if index + 3 < length && ipv4_hint(&bytes[index..index + 4]) {
                Some(IPV4_CHARSET)
            } else if index + 4 < length && ipv6_hint(&bytes[index..index + 5]) {
                Some(IPV6_CHARSET)
            } else {
                None
            };
            if let Some(charset) = charset {
                let span = bytes[index..]
                    .iter()
                    .take_while(|b| charset.contains(b))
                    .count();
                let candidate = &text[index..index + span];
                if candidate
                    .parse::<IpAddr>()
                    .is_ok_and(|address| self.contains(address))
                {
                    return true;
                }
                index += span;
            }
            index += 1;
        }
        false
    }
}

fn bits_have_leading_zero(_address: &str, pattern: &str) -> bool {
    pattern
        .rsplit_once('/')
        .is_some_and(|(_, bits)| bits.len() > 1 && bits.starts_with('0'))
}

fn ipv4_hint(prefix: &[u8]) -> bool {
    prefix[0].is_ascii_digit() && (prefix[1] == b'.' || prefix[2] == b'.' || prefix[3] == b'.')
}

fn ipv6_hint(prefix: &[u8]) -> bool {
    let hex = |b: u8| b.is_ascii_hexdigit();
    (prefix[0] == b':' && prefix[1] == b':' && hex(prefix[2]))
        || (hex(prefix[0]) && prefix[1] == b':')
        || (hex(prefix[0]) && hex(prefix[1]) && prefix[2] == b':')
        || (hex(prefix[0]) && hex(prefix[1]) && hex(prefix[2]) && prefix[3] == b':')
        || (hex(prefix[0])
            && hex(prefix[1])
            && hex(prefix[2])
            && hex(prefix[3])
            && prefix[4] == b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(pattern: &str) -> IpMatcher {
        IpMatcher::parse(pattern).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn single_addresses_are_found_inside_lines() {
        let m = matcher("192.168.0.1");
        assert!(m.matches_in("client 192.168.0.1 connected"));
        assert!(!m.matches_in("client 192.168.0.10 connected"));
        assert!(!m.matches_in("no address here"));
    }

    #[test]
    fn cidr_and_ranges() {
        let cidr = matcher("10.0.0.0/8");
        assert!(cidr.matches_in("from=10.20.30.40"));
        assert!(!cidr.matches_in("from=11.0.0.1"));
        let range = matcher("192.168.0.1-192.168.0.20");
        assert!(range.matches_in("ip=192.168.0.15 ok"));
        assert!(!range.matches_in("ip=192.168.0.21 ok"));
        let v6 = matcher("2001:db8::/32");
        assert!(v6.matches_in("addr 2001:db8::1 up"));
        assert!(!v6.matches_in("addr 2001:db9::1 up"));
    }

    #[test]
    fn invalid_patterns_are_refused_with_loki_wording() {
        assert_eq!(
            IpMatcher::parse("not-an-ip"),
            Err(r#"ip: invalid pattern: "not-an-ip""#.to_owned())
        );
        assert!(IpMatcher::parse("10.0.0.0/33").is_err());
        assert!(IpMatcher::parse("10.0.0.9-10.0.0.1").is_err());
    }
}

//! UTC calendar arithmetic for the management API: ISO-8601 rendering, parsing of `since` /
//! `until` values, and the day / week / month starts that key spend windows use.

use arouter_core::budget::{civil_from_days, days_from_civil, window_start_ms};
use arouter_core::error::ApiError;
use arouter_core::store::LimitReset;
use arouter_store::WindowStarts;

const DAY_MS: i64 = 86_400_000;

/// Unix milliseconds → `2026-11-21T09:30:00.000Z`.
pub fn iso(ms: i64) -> String {
    let (y, mo, d) = civil_from_days(ms.div_euclid(DAY_MS));
    let rem = ms.rem_euclid(DAY_MS);
    let (h, mi, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// Unix seconds → ISO-8601.
pub fn iso_secs(secs: i64) -> String {
    iso(secs.saturating_mul(1000))
}

fn num(s: &str, field: &str) -> Result<u32, ApiError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(field, s));
    }
    s.parse().map_err(|_| bad(field, s))
}

fn bad(field: &str, value: &str) -> ApiError {
    ApiError::bad_request(format!(
        "{field}: \"{value}\" is not a date (2026-11-01), an ISO datetime or unix milliseconds"
    ))
}

/// Parses `yyyy-mm-dd` into its day number.
fn parse_date(s: &str, field: &str) -> Result<i64, ApiError> {
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad(field, s));
    };
    let (y, m, d) = (num(y, field)?, num(m, field)?, num(d, field)?);
    if y < 1970 || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad(field, s));
    }
    let day = days_from_civil(i64::from(y), m, d);
    if civil_from_days(day) != (i64::from(y), m, d) {
        return Err(bad(field, s));
    }
    Ok(day)
}

/// `hh:mm[:ss[.fff]]` → milliseconds into the day.
fn parse_clock(s: &str, field: &str, whole: &str) -> Result<i64, ApiError> {
    let (hms, frac) = s.split_once('.').unwrap_or((s, ""));
    let parts: Vec<&str> = hms.split(':').collect();
    let (h, m, sec) = match parts.as_slice() {
        [h, m] => (num(h, field)?, num(m, field)?, 0),
        [h, m, s] => (num(h, field)?, num(m, field)?, num(s, field)?),
        _ => return Err(bad(field, whole)),
    };
    if h > 23 || m > 59 || sec > 60 {
        return Err(bad(field, whole));
    }
    let millis = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().chain("000".chars()).take(3).collect();
        i64::from(num(&digits, field).map_err(|_| bad(field, whole))?)
    };
    Ok(i64::from(h) * 3_600_000 + i64::from(m) * 60_000 + i64::from(sec) * 1000 + millis)
}

/// Splits a `Z` / `±hh:mm` suffix off a time of day; returns the offset in milliseconds.
fn split_zone<'a>(t: &'a str, field: &str, whole: &str) -> Result<(&'a str, i64), ApiError> {
    if let Some(rest) = t.strip_suffix('Z').or_else(|| t.strip_suffix('z')) {
        return Ok((rest, 0));
    }
    if let Some(i) = t.rfind(['+', '-']) {
        let (clock, zone) = t.split_at(i);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (zh, zm) = zone[1..].split_once(':').unwrap_or((&zone[1..], "00"));
        let (zh, zm) = (num(zh, field)?, num(zm, field)?);
        if zh > 23 || zm > 59 {
            return Err(bad(field, whole));
        }
        return Ok((
            clock,
            sign * (i64::from(zh) * 3_600_000 + i64::from(zm) * 60_000),
        ));
    }
    Ok((t, 0))
}

/// Where a date-only value falls: `since` takes the day's start, `until` the next day's start
/// (so `until=2026-11-21` includes that whole day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Since,
    Until,
}

/// Parses an ISO date, an ISO datetime (UTC unless it has an offset) or unix milliseconds.
pub fn parse_instant(s: &str, field: &str, bound: Bound) -> Result<i64, ApiError> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map_err(|_| bad(field, s));
    }
    let Some((date, time)) = s.split_once(['T', 't', ' ']) else {
        let day = parse_date(s, field)?;
        let day = if bound == Bound::Until { day + 1 } else { day };
        return Ok(day * DAY_MS);
    };
    let day = parse_date(date, field)?;
    let (clock, offset) = split_zone(time, field, s)?;
    Ok(day * DAY_MS + parse_clock(clock, field, s)? - offset)
}

/// The starts of the current UTC day, week (from Monday) and month.
pub fn window_starts(now_ms: i64) -> WindowStarts {
    WindowStarts {
        day_ms: window_start_ms(Some(LimitReset::Daily), now_ms),
        week_ms: window_start_ms(Some(LimitReset::Weekly), now_ms),
        month_ms: window_start_ms(Some(LimitReset::Monthly), now_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-03-01T00:00:00Z, a Friday.
    const MARCH_1: i64 = 1_709_251_200_000;

    #[test]
    fn renders_and_parses_iso() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(MARCH_1 + 3_723_004), "2024-03-01T01:02:03.004Z");
        let p = |s| parse_instant(s, "since", Bound::Since).unwrap();
        assert_eq!(p("2024-03-01"), MARCH_1);
        assert_eq!(p("2024-03-01T01:02:03.004Z"), MARCH_1 + 3_723_004);
        assert_eq!(p("2024-03-01T02:00+01:00"), MARCH_1 + 3_600_000);
        assert_eq!(p("1709251200000"), MARCH_1);
        assert_eq!(
            parse_instant("2024-02-29", "until", Bound::Until).unwrap(),
            MARCH_1
        );
        for bad in [
            "2024-02-30",
            "yesterday",
            "2024-13-01",
            "2024-03-01T25:00Z",
            "",
        ] {
            let e = parse_instant(bad, "since", Bound::Since).unwrap_err();
            assert!(e.message.starts_with("since:"), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn windows_start_at_utc_midnight_monday_and_the_first() {
        let w = window_starts(MARCH_1 + 5 * DAY_MS + 1234);
        assert_eq!(w.day_ms, MARCH_1 + 5 * DAY_MS);
        // 2024-03-06 is a Wednesday; its week began Monday 2024-03-04.
        assert_eq!(w.week_ms, MARCH_1 + 3 * DAY_MS);
        assert_eq!(w.month_ms, MARCH_1);
        // Friday 2024-03-01's week began in February.
        assert_eq!(window_starts(MARCH_1).week_ms, MARCH_1 - 4 * DAY_MS);
    }
}

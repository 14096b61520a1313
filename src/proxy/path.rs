//! Request-path checks made before routing.

use percent_encoding::percent_decode_str;

/// True when the path has a `.` or `..` segment, literally or percent-encoded. Upstreams clean
/// such paths, so `/alertmanager/%2e%2e/distributor/…` could otherwise reach a path the route table
/// never allowed.
pub fn has_dot_segment(path: &str) -> bool {
    if !path.contains('.') && !path.contains('%') {
        return false;
    }
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    decoded
        .split(['/', '\\'])
        .any(|segment| segment == "." || segment == "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_dot_segments_however_spelled() {
        for bad in [
            "/alertmanager/../distributor",
            "/alertmanager/%2e%2e/x",
            "/alertmanager/%2E./x",
            "/alertmanager/.",
            "/alertmanager/..%2fdistributor",
            "/alertmanager/..\\x",
        ] {
            assert!(has_dot_segment(bad), "{bad}");
        }
        for ok in [
            "/api/v1/push",
            "/alertmanager/static/app.js",
            "/api/v1/rules/a..b",
            "/x/%41",
        ] {
            assert!(!has_dot_segment(ok), "{ok}");
        }
    }
}

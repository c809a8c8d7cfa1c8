//! What becomes of a downloaded file the Hub names by its SHA-256 (the LFS `oid` of its file
//! listing): kept when it matches; discarded and downloaded once more when it does not; refused
//! on a second mismatch. The CLI's downloads and the page's both follow this policy.

/// The SHA-256 check of one file's downloads.
#[derive(Clone, Debug)]
pub struct DownloadCheck {
    /// Lowercase hex; `None` when the Hub names no SHA-256 (nothing to check).
    expected: Option<String>,
    mismatches: u32,
}

/// What to do with a finished download.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    /// Discard it and download it again; `notice` says why, for the user.
    Again {
        notice: String,
    },
    Refuse(ChecksumMismatch),
}

/// A file that twice did not match its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{url}: twice the download did not match the SHA-256 the Hub gives for it ({expected}, got {got})")]
pub struct ChecksumMismatch {
    pub url: String,
    pub expected: String,
    pub got: String,
}

/// Downloads of one file whose SHA-256 does not match before it is refused.
const DOWNLOADS: u32 = 2;

impl DownloadCheck {
    pub fn new(expected: Option<&str>) -> Self {
        DownloadCheck { expected: expected.map(str::to_ascii_lowercase), mismatches: 0 }
    }

    /// Whether there is a SHA-256 to check (else every download is kept unhashed).
    pub fn expects(&self) -> bool {
        self.expected.is_some()
    }

    /// The verdict on a download of `url` (named `name` to the user) whose SHA-256 is `got`.
    pub fn judge(&mut self, name: &str, url: &str, got: &str) -> Verdict {
        let Some(expected) = &self.expected else { return Verdict::Keep };
        if got.eq_ignore_ascii_case(expected) {
            return Verdict::Keep;
        }
        self.mismatches += 1;
        if self.mismatches >= DOWNLOADS {
            return Verdict::Refuse(ChecksumMismatch { url: url.to_string(), expected: expected.clone(), got: got.to_string() });
        }
        let short = |hex: &str| hex.chars().take(12).collect::<String>();
        Verdict::Again {
            notice: format!(
                "{name} does not match the SHA-256 the Hub gives for it (expected {}…, got {}…): discarded, downloading it again",
                short(expected),
                short(got)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mismatch_is_downloaded_once_more_then_refused() {
        let (good, bad) = ("ab".repeat(32), "cd".repeat(32));
        let mut check = DownloadCheck::new(Some(&good.to_uppercase()));
        assert_eq!(check.judge("f", "u", &good), Verdict::Keep);
        assert!(matches!(check.judge("f", "u", &bad), Verdict::Again { notice } if notice.contains("downloading it again")));
        assert!(matches!(check.judge("f", "u", &bad), Verdict::Refuse(ChecksumMismatch { got, .. }) if got == bad));
        let mut unchecked = DownloadCheck::new(None);
        assert!(!unchecked.expects());
        assert_eq!(unchecked.judge("f", "u", &bad), Verdict::Keep);
    }
}

package notifiers

import "github.com/quotawatch/quotawatch/internal/safefile"

// MaxSecretFileSize caps a file holding one credential (token_file,
// password_file).
const MaxSecretFileSize = safefile.MaxSecretFileSize

// MaxCAFileSize caps a PEM bundle of certificate authorities (ca_file).
const MaxCAFileSize = safefile.MaxCAFileSize

// ReadFile reads a file named in the config, at most limit bytes, refusing
// anything but a regular file; see safefile.ReadFile.
func ReadFile(path string, limit int64) ([]byte, error) { return safefile.ReadFile(path, limit) }

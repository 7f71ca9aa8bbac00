// Package safefile reads files named in the configuration, and the state
// file, without letting a named pipe, a device or a huge file hang or exhaust
// the process.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// MaxSecretFileSize caps a file holding one credential (token_file,
// password_file).
const MaxSecretFileSize = 64 << 10

// MaxCAFileSize caps a PEM bundle of certificate authorities (ca_file); a
// full system bundle is about 220 KiB.
const MaxCAFileSize = 1 << 20

// ReadFile reads a file named in the config, at most limit bytes. Only a
// regular file (or a symbolic link to one, as Kubernetes mounts secrets) is
// read: a named pipe, a device such as /dev/zero or a directory is refused
// before it is opened, so a read can neither hang nor exhaust memory. The
// file is opened non-blocking and checked again after opening, in case it
// was swapped between the check and the open.
//
// Errors read "open PATH: REASON" (an *fs.PathError) or "PATH is not a
// regular file (a named pipe)" / "PATH is larger than 64 KiB".
func ReadFile(path string, limit int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, &fs.PathError{Op: "open", Path: path, Err: pe.Err}
		}
		return nil, err
	}
	if err := checkRegular(path, st, limit); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := checkRegular(path, st, limit); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %s", path, byteSize(limit))
	}
	return b, nil
}

func checkRegular(path string, st fs.FileInfo, limit int64) error {
	m := st.Mode()
	if !m.IsRegular() {
		what := "not a plain file"
		switch {
		case m.IsDir():
			what = "a directory"
		case m&fs.ModeNamedPipe != 0:
			what = "a named pipe"
		case m&fs.ModeSocket != 0:
			what = "a socket"
		case m&fs.ModeDevice != 0:
			what = "a device"
		}
		return fmt.Errorf("%s is not a regular file (%s)", path, what)
	}
	if st.Size() > limit {
		return fmt.Errorf("%s is larger than %s", path, byteSize(limit))
	}
	return nil
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

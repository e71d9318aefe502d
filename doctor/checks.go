package doctor

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func checkFuseDevice(c Config) Result {
	r := Result{Name: c.FuseDevice}
	st, err := os.Stat(c.FuseDevice)
	switch {
	case err != nil:
		r.Level, r.Detail = Fail, "missing: the kernel's FUSE module is not loaded"
		r.Fix = "modprobe fuse (in a container, give it the device /dev/fuse)"
	case st.Mode()&os.ModeCharDevice == 0:
		r.Level, r.Detail = Fail, "is not a character device ("+st.Mode().String()+")"
		r.Fix = "remove it and load the FUSE module: modprobe fuse"
	default:
		f, err := os.OpenFile(c.FuseDevice, os.O_RDWR, 0)
		if err != nil {
			r.Level, r.Detail = Fail, "cannot be opened for reading and writing: "+errText(err)
			r.Fix = "chmod 0666 " + c.FuseDevice + " (its usual mode), or run clusterf as root"
			break
		}
		f.Close()
		r.Level, r.Detail = OK, "character device, readable and writable"
	}
	return r
}

func checkFusermount(c Config) Result {
	r := Result{Name: "fusermount3"}
	p, err := c.LookPath("fusermount3")
	switch {
	case err != nil && c.Root:
		r.Level, r.Detail = Warn, "not installed; root mounts without it, but it is the fallback for unmounting"
		r.Fix = "apt-get install -y fuse3"
	case err != nil:
		r.Level, r.Detail = Fail, "not installed; a non-root user needs it to mount"
		r.Fix = "sudo apt-get install -y fuse3"
	default:
		r.Level, r.Detail = OK, p
		if !c.Root {
			if st, err := os.Stat(p); err == nil && st.Mode()&os.ModeSetuid == 0 {
				r.Level, r.Detail = Fail, p+" is not setuid root, so non-root mounts fail"
				r.Fix = "sudo chmod u+s " + p + " (or reinstall fuse3), or run clusterf as root"
			} else {
				r.Detail += " (mounting as a normal user: other users cannot see the mount)"
			}
		}
	}
	return r
}

// checkDataDir checks that the data dir (or the directory it will be
// created in) is writable, and the free space there.
func checkDataDir(c Config) []Result {
	dir, err := filepath.Abs(c.DataDir)
	if err != nil {
		return []Result{{Name: "data dir", Level: Fail, Detail: errText(err)}}
	}
	r := Result{Name: "data dir"}
	existing := dir
	for {
		if _, err := os.Stat(existing); err == nil || existing == "/" {
			break
		}
		existing = filepath.Dir(existing)
	}
	st, err := os.Stat(existing)
	switch {
	case err != nil:
		r.Level, r.Detail = Fail, errText(err)
	case !st.IsDir():
		r.Level, r.Detail = Fail, existing+" is not a directory"
		r.Fix = "choose another --data-dir"
	default:
		if werr := tryWrite(existing); werr != nil {
			r.Level, r.Detail = Fail, existing+" is not writable: "+errText(werr)
			r.Fix = "chown the directory to the user that runs clusterf, or choose another --data-dir"
			break
		}
		r.Level, r.Detail = OK, dir+" is writable"
		if existing != dir {
			r.Detail = dir + " will be created (" + existing + " is writable)"
		} else if st.Mode().Perm()&0o002 != 0 && st.Mode()&os.ModeSticky == 0 {
			r.Level, r.Detail = Warn, dir+" is writable by every user ("+st.Mode().Perm().String()+")"
			r.Fix = "chmod o-w " + dir
		}
	}
	return []Result{r, checkFreeSpace(c, existing)}
}

// tryWrite creates, syncs and removes a file in dir.
func tryWrite(dir string) error {
	f, err := os.CreateTemp(dir, ".clusterf-doctor-*")
	if err != nil {
		return err
	}
	_, werr := f.Write([]byte("clusterf doctor\n"))
	serr := f.Sync()
	cerr := f.Close()
	rerr := os.Remove(f.Name())
	return errors.Join(werr, serr, cerr, rerr)
}

// lowSpace is the free space below which the report warns.
const lowSpace = 1 << 30

func checkFreeSpace(c Config, dir string) Result {
	r := Result{Name: "free space"}
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil {
		r.Level, r.Detail = Warn, "cannot read: "+errText(err)
		return r
	}
	r.Level, r.Detail, r.Fix = spaceLevel(int64(fs.Bavail)*fs.Bsize, c.Reserve, dir)
	return r
}

// spaceLevel judges free bytes against the write reserve and lowSpace.
func spaceLevel(free, reserve int64, dir string) (Level, string, string) {
	d := fmt.Sprintf("%s free on %s", bytesText(free), dir)
	switch {
	case free < reserve:
		return Fail, d + fmt.Sprintf(": file writes fail below %s", bytesText(reserve)),
			"free space there, or choose a --data-dir on another disk"
	case free < lowSpace:
		return Warn, d + ": little room for files", "free space there, or choose a --data-dir on another disk"
	}
	return OK, d, ""
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}

func checkMount(c Config) Result {
	r := Result{Name: "mount point"}
	dir, err := filepath.Abs(c.Mount)
	if err != nil {
		r.Level, r.Detail = Fail, errText(err)
		return r
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, syscall.ENOTCONN):
		r.Level, r.Detail = Warn, dir+" is a dead FUSE mount (a node was killed)"
		r.Fix = "nothing: clusterf mount replaces it (or: fusermount3 -u " + dir + ")"
	case errors.Is(err, os.ErrNotExist):
		r.Level, r.Detail = Fail, dir+" does not exist"
		r.Fix = "mkdir -p " + dir + " (make run does it)"
	case err != nil:
		r.Level, r.Detail = Fail, errText(err)
	case !st.IsDir():
		r.Level, r.Detail = Fail, dir+" is not a directory"
		r.Fix = "choose a directory as the mount point"
	default:
		if fstype := mountedType(dir); fstype != "" {
			r.Level, r.Detail = Warn, dir+" already has a mount ("+fstype+")"
			r.Fix = "stop what is mounted there (another clusterf node?) or choose another directory"
			break
		}
		r.Level, r.Detail = OK, dir+" is a directory"
	}
	return r
}

// mountedType returns the filesystem type mounted at dir ("" if none),
// from /proc/self/mountinfo.
func mountedType(dir string) string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		// id parent major:minor root mountpoint options ... - fstype source opts
		f := strings.Fields(sc.Text())
		if len(f) < 5 || unescapeMount(f[4]) != dir {
			continue
		}
		for i, x := range f {
			if x == "-" && i+1 < len(f) {
				return f[i+1]
			}
		}
	}
	return ""
}

func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}

// checkBroadcast sends one packet to BroadcastAddr on the discovery port
// and waits for it on a socket bound like discovery's (SO_REUSEPORT, so a
// running node keeps its port; it drops the packet as malformed).
func checkBroadcast(ctx context.Context, c Config) Result {
	r := Result{Name: "UDP broadcast"}
	if c.DiscoveryPort == 0 {
		r.Level, r.Detail = Info, "discovery is off (--discovery-port 0): peers join only through --peers"
		return r
	}
	port := strconv.Itoa(c.DiscoveryPort)
	lc := net.ListenConfig{Control: reuseControl}
	conn, err := lc.ListenPacket(ctx, "udp4", net.JoinHostPort(c.ListenHost, port))
	if err != nil {
		r.Level, r.Detail = Warn, "cannot listen on UDP port "+port+": "+errText(err)
		r.Fix = "free the port or choose another --discovery-port (the same on every node)"
		return r
	}
	defer conn.Close()
	dst, err := net.ResolveUDPAddr("udp4", net.JoinHostPort(c.BroadcastAddr, port))
	if err != nil {
		r.Level, r.Detail = Warn, "bad broadcast address: "+errText(err)
		return r
	}
	var nonce [8]byte
	rand.Read(nonce[:])
	payload := []byte("clusterf-doctor " + hex.EncodeToString(nonce[:]))
	if _, err := conn.WriteTo(payload, dst); err != nil {
		r.Level, r.Detail = Warn, "cannot send to "+dst.String()+": "+errText(err)
		r.Fix = "no network with broadcast is up; name the other nodes with --peers host:port"
		return r
	}
	if err := conn.SetReadDeadline(time.Now().Add(c.BroadcastWait)); err != nil {
		r.Level, r.Detail = Warn, errText(err)
		return r
	}
	buf := make([]byte, 2048)
	for {
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			r.Level = Warn
			r.Detail = fmt.Sprintf("sent one packet to %s but it did not come back within %v", dst, c.BroadcastWait)
			r.Fix = "a firewall may drop UDP port " + port + " (allow it), or name the other nodes with --peers host:port"
			return r
		}
		if bytes.Equal(buf[:n], payload) {
			r.Level, r.Detail = OK, "sent one packet to "+dst.String()+" and received it"
			return r
		}
	}
}

func reuseControl(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		for _, opt := range []int{unix.SO_REUSEADDR, unix.SO_REUSEPORT, unix.SO_BROADCAST} {
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, 1); e != nil {
				serr = e
			}
		}
	})
	return errors.Join(err, serr)
}

func checkClock(c Config) Result {
	r := Result{Name: "clock"}
	now := c.Now()
	if now.Year() < 2025 {
		r.Level, r.Detail = Fail, "the clock says "+now.UTC().Format(time.RFC3339)
		r.Fix = "set the clock (timedatectl set-ntp true, or date -s)"
		return r
	}
	synced, known := c.ClockSynced()
	skew := strings.TrimSuffix(strings.TrimSuffix(c.MaxSkew.String(), "0s"), "0m")
	switch {
	case !known:
		r.Level, r.Detail = Info, "cannot tell whether it is synchronized; nodes must agree within "+skew
	case !synced:
		r.Level, r.Detail = Warn, "not synchronized by NTP; discovery ignores nodes more than "+skew+" off, and newest-wins follows the clock"
		r.Fix = "apt-get install -y systemd-timesyncd (or chrony)"
	default:
		r.Level, r.Detail = OK, "synchronized (kernel NTP state)"
	}
	return r
}

// clockSynced reads the kernel's NTP state (adjtimex without changes).
func clockSynced() (synced, known bool) {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return false, false
	}
	return state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0, true
}

func checkFeature(c Config, f Feature) Result {
	r := Result{Name: f.Command}
	if p, err := c.LookPath(f.Command); err == nil {
		r.Level, r.Detail = OK, p+" (for "+f.NeededBy+")"
		return r
	}
	r.Level, r.Detail = Info, "not installed (Debian package "+f.Package+"); needed only by "+f.NeededBy
	return r
}

// errText is an error without Go's "open /x:" noise when it is a path
// error.
func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

package node

import "testing"

func TestOpenLAN(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want bool
	}{
		{"no key, all interfaces", Config{}, true},
		{"no key, 0.0.0.0", Config{QUICHost: "0.0.0.0"}, true},
		{"no key, a LAN address", Config{QUICHost: "192.168.1.5"}, true},
		{"no key, loopback (simulation)", Config{QUICHost: "127.0.0.1"}, false},
		{"no key, another loopback", Config{QUICHost: "127.0.0.2"}, false},
		{"no key, ::1", Config{QUICHost: "::1"}, false},
		{"no key, localhost", Config{QUICHost: "localhost"}, false},
		{"key, all interfaces", Config{ClusterKey: "k"}, false},
	}
	for _, tc := range cases {
		if got := openLAN(tc.cfg); got != tc.want {
			t.Errorf("%s: openLAN = %v, want %v", tc.name, got, tc.want)
		}
	}
}

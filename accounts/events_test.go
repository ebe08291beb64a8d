package accounts

import "testing"

func TestDeviceOf(t *testing.T) {
	t.Parallel()
	const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	const edge = chrome + " Edg/131.0.0.0"
	for _, tc := range []struct {
		name, ua, ip, family, network string
	}{
		{"Firefox on IPv4 keeps the /24", firefox, "203.0.113.77", "Firefox", "203.0.113.0/24"},
		{"Edge is not Chrome", edge, "198.51.100.1", "Edge", "198.51.100.0/24"},
		{"Chrome is not Safari", chrome, "2001:db8:1:2::5", "Chrome", "2001:db8:1::/48"},
		{"a tool names its product", "curl/8.5.0", "::ffff:192.0.2.9", "curl", "192.0.2.0/24"},
		{"no user agent", "", "bad", "unknown", ""},
		{"a bare Mozilla token says nothing", "Mozilla/5.0", "", "unknown", ""},
		{"junk is cut to letters and digits", "\x00évil<script>/1", "", "vilscript", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := DeviceOf(tc.ua, tc.ip)
			if d.Family != tc.family || d.Network != tc.network {
				t.Fatalf("DeviceOf = %+v, want %s %s", d, tc.family, tc.network)
			}
		})
	}
	if DeviceOf(firefox, "203.0.113.7").Fingerprint() != DeviceOf(firefox, "203.0.113.200").Fingerprint() {
		t.Error("two addresses of one /24 are different devices")
	}
	if DeviceOf(firefox, "203.0.113.7").Fingerprint() == DeviceOf(chrome, "203.0.113.7").Fingerprint() {
		t.Error("two browsers on one network are the same device")
	}
}

func FuzzUserAgentFamily(f *testing.F) {
	f.Add("Mozilla/5.0 Firefox/1")
	f.Add("curl/8")
	f.Fuzz(func(t *testing.T, ua string) {
		fam := UserAgentFamily(ua)
		if fam == "" || len(fam) > 32 {
			t.Fatalf("family %q", fam)
		}
	})
}

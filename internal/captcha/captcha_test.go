package captcha_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tutorhub/tutorhub/internal/captcha"
)

func TestSiteverify(t *testing.T) {
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.PostFormValue("secret") != "s3cret" || r.PostFormValue("remoteip") != "203.0.113.7" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if r.PostFormValue("response") == "good" {
			_, _ = w.Write([]byte(`{"success":true}`))
			return
		}
		_, _ = w.Write([]byte(`{"success":false,"error-codes":["invalid-input-response"]}`))
	}))
	defer provider.Close()
	v := &captcha.Siteverify{URL: provider.URL, Secret: "s3cret", HTTP: provider.Client()}
	ctx := context.Background()
	if err := v.Verify(ctx, "good", "203.0.113.7"); err != nil {
		t.Fatalf("good answer: %v", err)
	}
	for _, answer := range []string{"bad", ""} {
		if err := v.Verify(ctx, answer, "203.0.113.7"); !errors.Is(err, captcha.ErrRejected) {
			t.Fatalf("answer %q: %v, want ErrRejected", answer, err)
		}
	}
	provider.Close()
	if err := v.Verify(ctx, "good", "203.0.113.7"); err == nil || errors.Is(err, captcha.ErrRejected) {
		t.Fatalf("provider down: %v, want an error other than ErrRejected", err)
	}
}

func TestNew(t *testing.T) {
	for provider, want := range map[string]string{"turnstile": captcha.TurnstileURL, "hcaptcha": captcha.HCaptchaURL} {
		v, err := captcha.New(provider, "k", nil)
		if err != nil || v.(*captcha.Siteverify).URL != want {
			t.Fatalf("%s: %v %v", provider, v, err)
		}
	}
	if v, err := captcha.New("", "", nil); v != nil || err != nil {
		t.Fatalf("none: %v %v", v, err)
	}
	v, _ := captcha.New("test", "", nil)
	if v.Verify(context.Background(), captcha.TestToken, "") != nil || v.Verify(context.Background(), "other", "") == nil {
		t.Fatal("test verifier")
	}
	if _, err := captcha.New("recaptcha", "", nil); err == nil {
		t.Fatal("unknown provider accepted")
	}
}

package server

import (
	"errors"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/tutorhub/tutorhub/notifications"
)

// unsubscribePage is every answer of the unsubscribe handler: a confirmation form (GET), the
// result (POST), or why the link cannot be used.
var unsubscribePage = template.Must(template.New("unsubscribe").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.Title}} · tutorhub</title></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 2em auto; line-height: 1.5">
<h1>{{.Title}}</h1>
<p>{{.Text}}</p>
{{if .Token}}<form method="post" action="{{.Action}}">
<input type="hidden" name="token" value="{{.Token}}">
<button type="submit">Unsubscribe</button>
</form>{{end}}
</body></html>
`))

type unsubscribeView struct {
	Title, Text, Token, Action string
}

// unsubscribeHandler serves the one-click unsubscribe link of notification mail, with no
// sign-in: GET shows a confirmation form (so link scanners that follow links change
// nothing), POST turns the category's mail off, as RFC 8058's List-Unsubscribe-Post also
// does. A malformed, tampered or foreign link gets a clear page and changes nothing.
func unsubscribeHandler(svc *notifications.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		token := r.URL.Query().Get("token")
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err == nil && r.PostForm.Get("token") != "" {
				token = r.PostForm.Get("token")
			}
		}
		bad := func() {
			w.WriteHeader(http.StatusBadRequest)
			_ = unsubscribePage.Execute(w, unsubscribeView{Title: "This link is not valid",
				Text: "The unsubscribe link is incomplete or was changed, so nothing was changed. Open the link from the mail again, or change your notification settings after signing in."})
		}
		if len(token) > notifications.MaxTokenLen {
			bad()
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			if _, _, err := svc.VerifyUnsubscribe(token); err != nil {
				bad()
				return
			}
			_ = unsubscribePage.Execute(w, unsubscribeView{Title: "Unsubscribe from these emails?",
				Text: "You will no longer get these emails. Security notices are always sent.", Token: token, Action: notifications.UnsubscribePath})
		case http.MethodPost:
			_, c, err := svc.Unsubscribe(r.Context(), token)
			if errors.Is(err, notifications.ErrBadToken) {
				bad()
				return
			}
			if err != nil {
				log.ErrorContext(r.Context(), "unsubscribe failed", "error", err)
				w.WriteHeader(http.StatusServiceUnavailable)
				_ = unsubscribePage.Execute(w, unsubscribeView{Title: "Please try again", Text: "Nothing was changed; try the link again in a minute."})
				return
			}
			_ = unsubscribePage.Execute(w, unsubscribeView{Title: "You are unsubscribed",
				Text: "You will no longer get " + string(c) + " emails. Security notices are always sent. You can turn them back on in your notification settings."})
		default:
			w.Header().Set("Allow", "GET, HEAD, POST")
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	})
}

package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/notify"
	"github.com/staxkeys/staxkeys/views"
)

// Channels is what the channels page asks of the alerting; *notify.Notifier is one.
type Channels interface {
	ListChannels(ctx context.Context) ([]notify.ChannelInfo, error)
	AddChannel(ctx context.Context, p domain.Principal, f notify.ChannelForm) (notify.ChannelInfo, error)
	UpdateChannel(ctx context.Context, p domain.Principal, id int64, f notify.ChannelForm) error
	DeleteChannel(ctx context.Context, p domain.Principal, id int64) error
	SetRoute(ctx context.Context, p domain.Principal, ch notify.Channel, r notify.Route) error
	Routes(ctx context.Context) map[string]notify.Route
}

// channelRoutes are the channels page and its forms, all for admins, as the alert settings.
func (s *Server) channelRoutes(g *echo.Group, admin echo.MiddlewareFunc) {
	g.GET("/settings/channels", s.handleChannels, admin)
	g.POST("/settings/channels", s.handleChannelAdd, admin)
	g.POST("/settings/channels/routes", s.handleChannelRoute, admin)
	g.POST("/settings/channels/:id", s.handleChannelEdit, admin)
	g.POST("/settings/channels/:id/delete", s.handleChannelDelete, admin)
	g.POST("/settings/channels/:id/test", s.handleChannelTest, admin)
}

func (s *Server) channels() (Channels, error) {
	if err := s.needNotifier(); err != nil {
		return nil, err
	}
	ch, ok := s.notifier.(Channels)
	if !ok {
		return nil, echo.NewHTTPError(http.StatusNotFound, "Channels are not available in this process.")
	}
	return ch, nil
}

// handleChannels serves GET /settings/channels.
func (s *Server) handleChannels(c echo.Context) error {
	return s.renderChannels(c, http.StatusOK, "", nil, nil)
}

// renderChannels shows the page; failed names the form whose values and errors are shown.
func (s *Server) renderChannels(c echo.Context, status int, failed string, values map[string]string, errs views.FormErrors) error {
	chs, err := s.channels()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	list, err := chs.ListChannels(ctx)
	if err != nil {
		return err
	}
	routes := chs.Routes(ctx)
	v := s.notifier.View(ctx)
	d := views.ChannelsData{Services: notify.URLKinds(), Fresh: s.reauthFresh(c), Failed: failed, Values: values, Errors: errs, LinksKeys: v.LinksKeys}
	for _, k := range notify.RouteKinds() {
		d.Kinds = append(d.Kinds, views.RouteKind{Value: k, Label: notify.RouteKindLabel(k)})
	}
	for _, ch := range notify.Channels() {
		if !v.Configured[ch] {
			continue
		}
		r := routes[string(ch)]
		d.Fixed = append(d.Fixed, views.ChannelRow{Key: string(ch), Name: fixedChannelTitle(ch), Kind: "built in", Enabled: true, Events: r.Events, Tags: r.Tags})
	}
	for _, x := range list {
		d.Channels = append(d.Channels, views.ChannelRow{ID: x.ID, Key: string(notify.URLChannelOf(x.ID)), Name: x.Name, Kind: x.Kind,
			URL: x.Redacted, Enabled: x.Enabled, Unreadable: x.Unreadable, Events: x.Route.Events, Tags: x.Route.Tags})
	}
	return render(c, status, views.ChannelsPage(s.page(c, "Channels", "alerts"), d))
}

func fixedChannelTitle(ch notify.Channel) string {
	switch ch {
	case notify.Webhook:
		return "Webhook"
	case notify.Email:
		return "Email"
	}
	return channelName(ch)
}

func channelForm(c echo.Context) notify.ChannelForm {
	return notify.ChannelForm{Name: formField(c, "name"), URL: formField(c, "url"), Enabled: formField(c, "enabled") != ""}
}

// handleChannelAdd serves POST /settings/channels. A new destination asks for the admin's
// password (unless given in the last five minutes), as the alert settings do. The URL typed
// is never shown back, not even with the form's errors.
func (s *Server) handleChannelAdd(c echo.Context) error {
	chs, err := s.channels()
	if err != nil {
		return err
	}
	f := channelForm(c)
	values := map[string]string{"name": f.Name}
	if f.Enabled {
		values["enabled"] = "1"
	}
	if status, msg := s.confirmIdentity(c); msg != "" {
		return s.renderChannels(c, status, "add", values, views.FormErrors{"your_password": msg})
	}
	info, err := chs.AddChannel(c.Request().Context(), principalOf(c), f)
	if fe := formErrors(err); fe != nil {
		return s.renderChannels(c, http.StatusUnprocessableEntity, "add", values, fe)
	}
	if err != nil {
		return err
	}
	s.flash(c, "ok", "Channel "+info.Name+" added.")
	return redirect(c, "/settings/channels")
}

func channelID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, domain.ErrNotFound
	}
	return id, nil
}

// handleChannelEdit serves POST /settings/channels/:id: name, enabled, and the URL when one
// is typed (which asks for the password, as a new destination).
func (s *Server) handleChannelEdit(c echo.Context) error {
	chs, err := s.channels()
	if err != nil {
		return err
	}
	id, err := channelID(c)
	if err != nil {
		return err
	}
	f := channelForm(c)
	form := "edit-" + strconv.FormatInt(id, 10)
	if strings.TrimSpace(f.URL) != "" {
		if status, msg := s.confirmIdentity(c); msg != "" {
			return s.renderChannels(c, status, form, nil, views.FormErrors{"your_password": msg})
		}
	}
	err = chs.UpdateChannel(c.Request().Context(), principalOf(c), id, f)
	if fe := formErrors(err); fe != nil {
		return s.renderChannels(c, http.StatusUnprocessableEntity, form, nil, fe)
	}
	if err != nil {
		return err
	}
	s.flash(c, "ok", "Channel saved.")
	return redirect(c, "/settings/channels")
}

// handleChannelDelete serves POST /settings/channels/:id/delete.
func (s *Server) handleChannelDelete(c echo.Context) error {
	chs, err := s.channels()
	if err != nil {
		return err
	}
	id, err := channelID(c)
	if err != nil {
		return err
	}
	if err := chs.DeleteChannel(c.Request().Context(), principalOf(c), id); err != nil {
		return err
	}
	s.flash(c, "ok", "Channel deleted.")
	return redirect(c, "/settings/channels")
}

// handleChannelTest serves POST /settings/channels/:id/test: a test alert now, recorded in the
// delivery log, and how it went.
func (s *Server) handleChannelTest(c echo.Context) error {
	if _, err := s.channels(); err != nil {
		return err
	}
	id, err := channelID(c)
	if err != nil {
		return err
	}
	if err := s.notifier.Test(c.Request().Context(), principalOf(c), notify.URLChannelOf(id)); err != nil {
		s.flash(c, "error", "The test alert failed: "+err.Error())
	} else {
		s.flash(c, "ok", "Test alert sent.")
	}
	return redirect(c, "/settings/channels")
}

// handleChannelRoute serves POST /settings/channels/routes: which kinds of alert, about keys
// of which tags, one channel (fixed or URL) hears.
func (s *Server) handleChannelRoute(c echo.Context) error {
	chs, err := s.channels()
	if err != nil {
		return err
	}
	if err := c.Request().ParseForm(); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The form does not parse.")
	}
	ch := notify.Channel(formField(c, "channel"))
	r := notify.Route{Events: c.Request().PostForm["events"], Tags: notify.ParseRouteTags(formField(c, "tags"))}
	err = chs.SetRoute(c.Request().Context(), principalOf(c), ch, r)
	if fe := formErrors(err); fe != nil {
		return s.renderChannels(c, http.StatusUnprocessableEntity, "route-"+strings.ReplaceAll(string(ch), ":", "-"), nil, fe)
	}
	if err != nil {
		return err
	}
	s.flash(c, "ok", "Saved what the channel hears.")
	return redirect(c, "/settings/channels")
}

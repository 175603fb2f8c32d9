package incident

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func ntf(key string, sev Severity) Notification {
	return Notification{Key: key, Event: NotifyPage, Severity: sev, To: "Ana", Channel: ChannelSMS, Address: "+14255550123",
		Subject: "INC-" + key + " " + sev.String(), Link: "https://vigil.example/i/" + key, AckURL: "https://vigil.example/ack/" + key, Deferrals: 2}
}

func TestBundleGathersOnceAndCountsTheRest(t *testing.T) {
	var b Bundle
	require.True(t, b.Empty())
	require.True(t, b.Add(ntf("1", Sev3)))
	require.False(t, b.Add(ntf("1", Sev3)), "a redelivery adds nothing")
	require.False(t, b.Empty())
	for i := 2; i <= MaxBundled; i++ {
		require.True(t, b.Add(ntf(fmt.Sprint(i), Sev3)))
	}
	require.Len(t, b.Items, MaxBundled)
	require.Zero(t, b.More, "exactly the limit is kept whole")
	require.True(t, b.Add(ntf("21", Sev3)))
	require.True(t, b.Add(ntf("22", Sev3)))
	require.Len(t, b.Items, MaxBundled)
	require.Equal(t, 2, b.More)

	only := Bundle{More: 1}
	require.False(t, only.Empty(), "counted ones wait too")
}

func TestBundleSentForgetsWhatTheDigestCarried(t *testing.T) {
	b := Bundle{Gen: 3, More: 2}
	for i := range 4 {
		b.Add(ntf(fmt.Sprint(i), Sev3))
	}
	require.False(t, b.Sent(2, 4, 2), "another generation's digest")
	require.Len(t, b.Items, 4)

	b.Add(ntf("late", Sev3)) // arrived while the digest went out
	require.True(t, b.Sent(3, 4, 1))
	require.Equal(t, 4, b.Gen)
	require.Equal(t, []string{"late"}, []string{b.Items[0].Key})
	require.Equal(t, 1, b.More)
	require.False(t, b.Sent(3, 4, 1), "recorded already")

	require.True(t, b.Sent(4, 10, 5), "more than there is: nothing left, never below zero")
	require.True(t, b.Empty())
	require.Equal(t, 5, b.Gen)
}

func TestDigestOfOneIsTheNotificationItself(t *testing.T) {
	b := Bundle{}
	n := ntf("1", Sev2)
	b.Add(n)
	d := b.Digest("digest:x")
	n.Digest = true
	require.Equal(t, n, d, "late, as it was, with its acknowledge link")
}

func TestDigestPutsTheMostSevereFirst(t *testing.T) {
	b := Bundle{}
	b.Add(ntf("1", Sev3))
	b.Add(ntf("2", Sev1))
	b.Add(ntf("3", Sev2))
	b.Add(ntf("4", Severity(0)))
	noLink := ntf("5", Sev1)
	noLink.Link = ""
	b.Add(noLink)
	d := b.Digest("digest:x:0:5")
	require.Equal(t, "digest:x:0:5", d.Key)
	require.Equal(t, Sev1, d.Severity)
	require.Equal(t, "INC-2 sev1 (and 4 more)", d.Subject, "the first most severe")
	require.True(t, d.Digest)
	require.Empty(t, d.AckURL, "a digest acknowledges nothing")
	require.Zero(t, d.Deferrals)
	require.Equal(t, UrgencyLow, d.Urgency)
	require.Equal(t, strings.Join([]string{
		"Ana: 5 notifications came while you were sent more than you can read at once; here they are together.",
		"- INC-1 sev3 https://vigil.example/i/1",
		"- INC-2 sev1 https://vigil.example/i/2",
		"- INC-3 sev2 https://vigil.example/i/3",
		"- INC-4 unset https://vigil.example/i/4",
		"- INC-5 sev1",
	}, "\n"), d.Text)

	b.More = 3
	b.Items[1].Urgency = UrgencyHigh
	d = b.Digest("k")
	require.Equal(t, "INC-2 sev1 (and 7 more)", d.Subject)
	require.True(t, strings.HasSuffix(d.Text, "\n… and 3 more: see the incident list."), d.Text)
	require.True(t, strings.HasPrefix(d.Text, "Ana: 8 notifications"), d.Text)
	require.Equal(t, UrgencyHigh, d.Urgency, "the page's own urgency is kept")

	one := Bundle{More: 2}
	one.Add(ntf("1", Sev4))
	d = one.Digest("k")
	require.Equal(t, "INC-1 sev4 (and 2 more)", d.Subject, "one kept and some counted is a digest")

	unset := Bundle{}
	unset.Add(ntf("1", Severity(0)))
	unset.Add(ntf("2", Sev4))
	require.Equal(t, "INC-2 sev4 (and 1 more)", unset.Digest("k").Subject, "any severity is worse than none")
}

// A bundle is read for every notification it gathers: only the first keeps
// its text and acknowledge link (a digest of several says subjects and links).
func TestBundleKeepsOnlyTheFirstWhole(t *testing.T) {
	var b Bundle
	first, second := ntf("1", Sev2), ntf("2", Sev1)
	first.Text, second.Text = "the whole page", "another whole page"
	b.Add(first)
	b.Add(second)
	require.Equal(t, first, b.Items[0])
	require.Empty(t, b.Items[1].Text)
	require.Empty(t, b.Items[1].AckURL)
	require.Equal(t, second.Subject, b.Items[1].Subject)
	require.Equal(t, second.Link, b.Items[1].Link)
	d := b.Digest("digest:x:0:2")
	require.Contains(t, d.Text, second.Subject+" "+second.Link)

	// Left alone after a digest, a later one is said as a digest of one, with
	// its subject and link, never as an empty page.
	require.True(t, b.Sent(0, 1, 0))
	third := ntf("3", Sev3)
	b.Add(third)
	b.Items = b.Items[:1]
	d = b.Digest("digest:x:1:1")
	require.True(t, d.Digest)
	require.Empty(t, d.AckURL)
	require.Contains(t, d.Text, second.Subject+" "+second.Link)
}

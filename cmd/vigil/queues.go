package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"vigil/internal/app"
	"vigil/internal/localbus"
)

// queues prints each local queue's depth, a peek at its dead letters with their reasons,
// and what is parked on the poison queue with why, from where and when. It opens the
// queue file read-only, so it is safe while `vigil local` runs.
func queues(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("queues", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", ".vigil", "data directory of the local run")
	peek := fs.Int("peek", 5, "dead letters (and parked messages) to show per queue")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	path := filepath.Join(*data, localbus.FileName)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no local queue at %s (start `vigil local --data %s` first): %w", path, *data, err)
	}
	b, err := localbus.OpenReadOnly(path)
	if err != nil {
		return err
	}
	defer b.Close()
	stats, err := b.Stats(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tACTIVE\tSCHEDULED\tLOCKED\tDEAD-LETTERED")
	for _, s := range stats {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", s.Name, s.Active, s.Scheduled, s.Locked, s.DeadLettered)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range stats {
		if s.Name == app.QueuePoison {
			if err := showParked(ctx, stdout, b, s, *peek); err != nil {
				return err
			}
		}
		if s.DeadLettered == 0 || *peek <= 0 {
			continue
		}
		dls, err := b.PeekDeadLetters(ctx, s.Name, *peek)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nDead letters in %s (newest first, %d of %d):\n", s.Name, len(dls), s.DeadLettered)
		for _, d := range dls {
			fmt.Fprintf(stdout, "  %s  #%d  id=%s  deliveries=%d\n    reason: %s\n", d.DeadLetteredAt.UTC().Format(time.RFC3339), d.SequenceNumber, d.ID, d.DeliveryCount, d.Reason)
			if d.Description != "" {
				fmt.Fprintf(stdout, "    %s\n", d.Description)
			}
		}
	}
	return nil
}

// showParked lists the newest messages on the poison queue with what
// app.Poison.Park recorded on each: the reason (a fault kind) and its
// description, the queue it came from, its message id there, and when; and,
// for one that outlasted its retries, how many were made.
func showParked(ctx context.Context, stdout io.Writer, b *localbus.Bus, s localbus.EntityStats, peek int) error {
	waiting := s.Active + s.Scheduled + s.Locked
	if waiting == 0 || peek <= 0 {
		return nil
	}
	parked, err := b.PeekMessages(ctx, s.Name, peek)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nParked in %s (newest first, %d of %d):\n", s.Name, len(parked), waiting)
	for _, p := range parked {
		at := p.EnqueuedAt.UTC().Format(time.RFC3339)
		if v, ok := p.Properties["parkedAt"]; ok {
			at = v
		}
		from := p.Properties["sourceQueue"]
		if from == "" {
			from = p.Subject
		}
		reason := p.Properties["reason"]
		if n := p.Properties["attempts"]; n != "" {
			// Parked by app.Retries: a passing failure that outlasted the retry budget.
			reason += " (after " + n + " retries)"
		}
		fmt.Fprintf(stdout, "  %s  #%d  from=%s  id=%s\n    reason: %s\n", printable(at), p.SequenceNumber, printable(from),
			printable(p.Properties["sourceMessageId"]), printable(reason))
		if d := p.Properties["description"]; d != "" {
			fmt.Fprintf(stdout, "    %s\n", printable(d))
		}
	}
	return nil
}

// printable keeps a parked message's text, which may quote what a sender
// wrote, from moving the cursor or recolouring the operator's terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

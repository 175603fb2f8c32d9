package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"vigil/internal/localbus"
)

// queues prints each local queue's depth and a peek at its dead letters, with reasons.
// It opens the queue file read-only, so it is safe while `vigil local` runs.
func queues(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("queues", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", ".vigil", "data directory of the local run")
	peek := fs.Int("peek", 5, "dead letters to show per queue")
	if err := fs.Parse(args); err != nil {
		return exitError(2)
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

package libvirtconn

import (
	"fmt"

	libvirt "github.com/digitalocean/go-libvirt"
)

// EventType is a domain lifecycle event's type (libvirt's
// virDomainEventType).
type EventType int32

// Lifecycle event types, libvirt's values.
const (
	Defined     = EventType(libvirt.DomainEventDefined)
	Undefined   = EventType(libvirt.DomainEventUndefined)
	Started     = EventType(libvirt.DomainEventStarted)
	Suspended   = EventType(libvirt.DomainEventSuspended)
	Resumed     = EventType(libvirt.DomainEventResumed)
	Stopped     = EventType(libvirt.DomainEventStopped)
	Shutdown    = EventType(libvirt.DomainEventShutdown)
	PMSuspended = EventType(libvirt.DomainEventPmsuspended)
	Crashed     = EventType(libvirt.DomainEventCrashed)
)

// Details (libvirt's virDomainEvent*DetailType); a detail's meaning
// depends on the event type.
const (
	DefinedAdded        = int32(libvirt.DomainEventDefinedAdded)
	DefinedUpdated      = int32(libvirt.DomainEventDefinedUpdated)
	DefinedRenamed      = int32(libvirt.DomainEventDefinedRenamed)
	DefinedFromSnapshot = int32(libvirt.DomainEventDefinedFromSnapshot)

	UndefinedRemoved = int32(libvirt.DomainEventUndefinedRemoved)
	UndefinedRenamed = int32(libvirt.DomainEventUndefinedRenamed)

	StartedBooted       = int32(libvirt.DomainEventStartedBooted)
	StartedMigrated     = int32(libvirt.DomainEventStartedMigrated)
	StartedRestored     = int32(libvirt.DomainEventStartedRestored)
	StartedFromSnapshot = int32(libvirt.DomainEventStartedFromSnapshot)
	StartedWakeup       = int32(libvirt.DomainEventStartedWakeup)

	SuspendedPaused   = int32(libvirt.DomainEventSuspendedPaused)
	SuspendedMigrated = int32(libvirt.DomainEventSuspendedMigrated)

	ResumedUnpaused       = int32(libvirt.DomainEventResumedUnpaused)
	ResumedMigrated       = int32(libvirt.DomainEventResumedMigrated)
	ResumedFromSnapshot   = int32(libvirt.DomainEventResumedFromSnapshot)
	ResumedPostcopy       = int32(libvirt.DomainEventResumedPostcopy)
	ResumedPostcopyFailed = int32(libvirt.DomainEventResumedPostcopyFailed)

	StoppedShutdown  = int32(libvirt.DomainEventStoppedShutdown)
	StoppedDestroyed = int32(libvirt.DomainEventStoppedDestroyed)
	StoppedCrashed   = int32(libvirt.DomainEventStoppedCrashed)
	StoppedMigrated  = int32(libvirt.DomainEventStoppedMigrated)
	StoppedSaved     = int32(libvirt.DomainEventStoppedSaved)
	StoppedFailed    = int32(libvirt.DomainEventStoppedFailed)
)

// Event is one domain lifecycle event.
type Event struct {
	UUID   string // lower-case, hyphenated
	Name   string
	Type   EventType
	Detail int32 // one of the detail constants of Type
}

var typeNames = []string{"defined", "undefined", "started", "suspended", "resumed", "stopped", "shutdown", "pmsuspended", "crashed"}

// Detail names per type, as virsh event --loop prints them (lower case).
var detailNames = map[EventType][]string{
	Defined:     {"added", "updated", "renamed", "from-snapshot"},
	Undefined:   {"removed", "renamed"},
	Started:     {"booted", "migrated", "restored", "from-snapshot", "wakeup", "recreated"},
	Suspended:   {"paused", "migrated", "ioerror", "watchdog", "restored", "from-snapshot", "api-error", "postcopy", "postcopy-failed"},
	Resumed:     {"unpaused", "migrated", "from-snapshot", "postcopy", "postcopy-failed"},
	Stopped:     {"shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from-snapshot", "recreated"},
	Shutdown:    {"finished", "guest", "host"},
	PMSuspended: {"memory", "disk"},
	Crashed:     {"panicked", "crashloaded"},
}

func (t EventType) String() string {
	if t >= 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("event-%d", int32(t))
}

// DetailName is the detail's name for this event's type ("migrated").
func (e Event) DetailName() string {
	if names := detailNames[e.Type]; e.Detail >= 0 && int(e.Detail) < len(names) {
		return names[e.Detail]
	}
	return fmt.Sprintf("detail-%d", e.Detail)
}

// Migrated tells whether the event is part of a migration (STARTED,
// SUSPENDED, RESUMED or STOPPED with the MIGRATED detail).
func (e Event) Migrated() bool {
	switch e.Type {
	case Started:
		return e.Detail == StartedMigrated
	case Suspended:
		return e.Detail == SuspendedMigrated
	case Resumed:
		return e.Detail == ResumedMigrated
	case Stopped:
		return e.Detail == StoppedMigrated
	}
	return false
}

func (e Event) String() string {
	return fmt.Sprintf("domain '%s' (%s) %s/%s", e.Name, e.UUID, e.Type, e.DetailName())
}

// eventFrom converts go-libvirt's message.
func eventFrom(m libvirt.DomainEventLifecycleMsg) Event {
	return Event{UUID: uuidString(m.Dom.UUID), Name: m.Dom.Name, Type: EventType(m.Event), Detail: m.Detail}
}

func uuidString(u libvirt.UUID) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

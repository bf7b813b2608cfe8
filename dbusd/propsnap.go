package main

import (
	"reflect"
	"sync"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"
)

// propsSnapshot serves org.freedesktop.DBus.Properties for a network
// object in place of the prop.Properties behind it. godbus's
// Properties.Set stores a new slice value *into* the old one (dbus.Store
// reuses its backing array), while the reply to an earlier Get may still
// be encoding that array in a call goroutine: a data race on Devices and
// DeviceStates (seen under -race while carrier events updated them). The
// replies here are copies taken under mu, which updateNetwork holds while
// it sets values.
type propsSnapshot struct {
	p  *prop.Properties
	mu *sync.Mutex
}

func (w propsSnapshot) Get(iface, name string) (dbus.Variant, *dbus.Error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	v, err := w.p.Get(iface, name)
	if err != nil {
		return v, err
	}
	return dbus.MakeVariant(copySlice(v.Value())), nil
}

func (w propsSnapshot) GetAll(iface string) (map[string]dbus.Variant, *dbus.Error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	all, err := w.p.GetAll(iface)
	if err != nil {
		return all, err
	}
	out := make(map[string]dbus.Variant, len(all))
	for k, v := range all {
		out[k] = dbus.MakeVariant(copySlice(v.Value()))
	}
	return out, nil
}

func (w propsSnapshot) Set(iface, name string, v dbus.Variant) *dbus.Error {
	return w.p.Set(iface, name, v)
}

// copySlice returns a copy of a slice value (its elements are values:
// strings, numbers, structs of those), anything else as it is.
func copySlice(v any) any {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice {
		return v
	}
	c := reflect.MakeSlice(rv.Type(), rv.Len(), rv.Len())
	reflect.Copy(c, rv)
	return c.Interface()
}

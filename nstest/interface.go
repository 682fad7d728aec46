package nstest

import (
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/vishvananda/netlink"
)

var ifNameChars = regexp.MustCompile(`^[^/:\s]+$`)

// checkIfName validates an interface name given by the user; "" means none.
func checkIfName(n string) error {
	switch {
	case n == "":
		return nil
	case len(n) > 15:
		return fmt.Errorf("interface name %q: %d bytes, over the 15 bytes Linux allows", n, len(n))
	case !ifNameChars.MatchString(n) || n == "." || n == "..":
		return fmt.Errorf("interface name %q: must not contain '/', ':' or spaces", n)
	}
	return nil
}

// DelAddr removes an address, in CIDR form, from the interface.
func (i *Interface) DelAddr(cidr string) error {
	p, err := parsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("nstest: interface %s: %w", i, err)
	}
	i.mu.Lock()
	k := -1
	for j, q := range i.addrs {
		if q == p {
			k = j
		}
	}
	i.mu.Unlock()
	if k < 0 {
		return fmt.Errorf("nstest: interface %s: address %s: not on this interface", i, p)
	}
	h := i.host
	if err := h.use(func() error { return h.nl.AddrDel(i.link(), nlAddr(p)) }); err != nil {
		return fmt.Errorf("nstest: interface %s: delete address %s: %w", i, p, err)
	}
	i.mu.Lock()
	for j, q := range i.addrs {
		if q == p {
			i.addrs = append(i.addrs[:j], i.addrs[j+1:]...)
			break
		}
	}
	i.mu.Unlock()
	i.host.topo.releaseAddr(p, i)
	return nil
}

// SetMaster enslaves the interface to bridge br, which must be in the same
// namespace (the fabric, or the host of Host.AddBridge): `ip link set dev
// IFACE master BR`.
func (i *Interface) SetMaster(br *Bridge) error {
	if br == nil || br.topo != i.host.topo || br.host != i.host {
		return fmt.Errorf("nstest: interface %s: set master: only an interface in the bridge's namespace can join a bridge of its topology", i)
	}
	h := i.host
	i.mu.Lock()
	oldPort := i.port
	i.port = br.index // as it will be, to check its addresses
	i.mu.Unlock()
	err := i.host.topo.checkJoin()
	switch {
	case err != nil:
		err = fmt.Errorf("set master %s: %w", br.name, err)
	case br.ovs != nil:
		err = br.addPort(i)
	default:
		err = h.use(func() error { return h.nl.LinkSetMasterByIndex(i.link(), br.index) })
		if err != nil {
			err = fmt.Errorf("set master %s: %w", br.name, err)
		}
	}
	if err != nil {
		i.mu.Lock()
		i.port = oldPort
		i.mu.Unlock()
		return fmt.Errorf("nstest: interface %s: %w", i, err)
	}
	i.mu.Lock()
	i.master = br.index
	i.mu.Unlock()
	i.host.topo.pend(i)
	return nil
}

// MoveTo moves the interface into host h's namespace, keeping its name, as
// `ip link set IFACE netns NS` does. Its addresses are lost and it is down
// afterwards. Moving costs the kernel a synchronisation of about 20 ms; build
// with the end in the right place when you can. Do not use the interface from
// other goroutines while it moves.
func (i *Interface) MoveTo(h *Host) error {
	if h == nil || h.topo != i.host.topo {
		return fmt.Errorf("nstest: interface %s: move: the destination is not a host of this topology", i)
	}
	from := i.host
	err := useBoth(from, h, func() error { return from.nl.LinkSetNsFd(i.link(), h.ns.Fd()) })
	if err != nil {
		return fmt.Errorf("nstest: interface %s: move to %q: %w", i, h.name, err)
	}
	var l netlink.Link
	err = h.use(func() (err error) { l, err = h.nl.LinkByName(i.name); return err })
	if err != nil {
		return fmt.Errorf("nstest: interface %s: find it in %q after the move: %w", i, h.name, err)
	}
	from.removeIface(i)
	i.mu.Lock()
	lost := i.addrs
	i.addrs = nil
	i.master = 0 // a bridge lets go of a port that leaves its namespace
	i.port = 0
	i.mu.Unlock()
	for _, p := range lost {
		from.topo.releaseAddr(p, i) // not under i.mu: claims read it
	}
	i.host, i.index = h, l.Attrs().Index
	h.addIface(i)
	return nil
}

// Delete deletes the interface; the kernel deletes its veth peer with it.
func (i *Interface) Delete() error {
	h := i.host
	if err := h.use(func() error { return h.nl.LinkDel(i.link()) }); err != nil {
		return fmt.Errorf("nstest: interface %s: delete: %w", i, err)
	}
	for _, end := range []*Interface{i, i.peer} {
		if end == nil {
			continue
		}
		end.host.removeIface(end)
		for _, p := range end.Addrs() {
			end.host.topo.releaseAddr(p, end)
		}
	}
	return nil
}

func (h *Host) removeIface(i *Interface) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for j, x := range h.ifaces {
		if x == i {
			h.ifaces = append(h.ifaces[:j], h.ifaces[j+1:]...)
			return
		}
	}
}

// Ports returns the names of the interfaces enslaved to the bridge, as the
// kernel reports them (`bridge link`, `brctl show`).
func (b *Bridge) Ports() ([]string, error) {
	if b.ovs != nil {
		out, err := b.ovs.vsctl("list-ports", b.name)
		if err != nil {
			return nil, fmt.Errorf("nstest: bridge %q: list ports: %w", b.name, err)
		}
		return strings.Fields(out), nil
	}
	fab, err := b.where()
	if err != nil {
		return nil, fmt.Errorf("nstest: bridge %q: list ports: %w", b.name, err)
	}
	var links []netlink.Link
	err = fab.use(func() (err error) { links, err = fab.nl.LinkList(); return err })
	if err != nil {
		return nil, fmt.Errorf("nstest: bridge %q: list ports: %w", b.name, err)
	}
	var out []string
	for _, l := range links {
		if l.Attrs().MasterIndex == b.index {
			out = append(out, l.Attrs().Name)
		}
	}
	return out, nil
}

// LinkState reports whether the interface is administratively up and whether
// it has carrier, as the kernel sees it now.
func (i *Interface) LinkState() (up, carrier bool, err error) {
	l, err := i.linkByIndex()
	if err != nil {
		return false, false, fmt.Errorf("nstest: interface %s: %w", i, err)
	}
	a := l.Attrs()
	return a.Flags&net.FlagUp != 0, a.OperState == netlink.OperUp, nil
}

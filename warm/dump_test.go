package warm

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestDumpListsEveryItemWithItsMetadata(t *testing.T) {
	addr := fakeDump(t, "key=a%20b exp=-1 la=1700000005 cas=1 fetch=no cls=1 size=60\n"+
		"key=later exp=1800000100 la=1700000009 cas=3 fetch=yes cls=1 size=4150\n"+
		"key=bad%zz exp=-1 la=1 cas=4 fetch=no cls=1 size=60\n"+
		"key=nosize exp=-1 la=bad\n"+
		"END\r\n")
	var got []Item
	bad, err := Dump(context.Background(), addr, time.Second, func(it Item) { got = append(got, it) })
	if err != nil {
		t.Fatal(err)
	}
	want := []Item{{Key: "a b", Exp: -1, LastAccess: 1700000005, Size: 60}, {Key: "later", Exp: 1800000100, LastAccess: 1700000009, Size: 4150}}
	if fmt.Sprint(got) != fmt.Sprint(want) || bad != 2 {
		t.Fatalf("got %v and %d malformed, want %v and 2", got, bad, want)
	}
}

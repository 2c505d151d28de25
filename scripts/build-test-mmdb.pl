#!/usr/bin/perl
# Writes a small GeoIP2-Country-shaped MaxMind DB (.mmdb) for tests, so a test can send from "another country"
# using loopback addresses only.
#
# Usage: perl scripts/build-test-mmdb.pl [--ipv4] OUT.mmdb [CIDR=CC ...]
#   --ipv4 writes an IPv4-only tree (ip_version 4, the IPv6 rows left out), as some third-party files are.
#   Extra CIDR=CC arguments are inserted after the table below (last insert wins), e.g. to build a second database
#   for a reload test: `perl scripts/build-test-mmdb.pl b.mmdb 127.0.0.2/32=IT`.
#   The file is written next to OUT and renamed into place, so a reader never sees half a database.
# Needs Debian's libmaxmind-db-writer-perl (MaxMind::DB::Writer::Tree).
#
# The table (IPv6 tree, record size 24, IPv4 stored in ::/96 and aliased from ::ffff:0:0/96, 2001::/32, 2002::/16):
#
#   network           country   registered_country   why
#   127.0.0.0/8       FR        FR                   the rest of loopback, 127.0.0.1 included: the "home" country
#   127.0.0.2/32      DE        DE                   another allowed country
#   127.0.0.3/32      US        US                   abroad
#   127.0.0.4/32      CU        CU                   a country a policy would deny
#   127.0.0.5/32      -         JP                   no `country`: lookups fall back to `registered_country`
#   127.0.0.6/32      -         -                    a record without any country (continent only): unknown
#   ::1/128           NL        NL                   IPv6 loopback (it is ::0.0.0.1, inside the IPv4 subtree ::/96,
#                                                    so IPv4 0.0.0.1 reads NL too)
#   2001:db8::/32     CH        CH                   documentation prefix, a plain IPv6 subtree (lookup tests only)
#
# Anything else (10.0.0.1, 192.0.2.1, fe80::1 ...) is not in the database.
use strict;
use warnings;

my $ipv4_only = 0;
if (@ARGV && $ARGV[0] eq '--ipv4') {
    $ipv4_only = 1;
    shift @ARGV;
}
my $out = shift @ARGV;
if (!defined $out || $out eq '' || $out =~ /^-/) {
    print STDERR "usage: perl scripts/build-test-mmdb.pl [--ipv4] OUT.mmdb [CIDR=CC ...]\n";
    exit 2;
}

if (!eval { require MaxMind::DB::Writer::Tree; 1 }) {
    print STDERR "build-test-mmdb: MaxMind::DB::Writer::Tree not found: install libmaxmind-db-writer-perl\n";
    exit 3;
}

# geoname ids are illustrative (GeoNames ids of the countries); names only in English.
my %COUNTRY = (
    FR => [ 3017382, 'France',        'EU', 1 ],
    DE => [ 2921044, 'Germany',       'EU', 1 ],
    US => [ 6252001, 'United States', 'NA', 0 ],
    CU => [ 3562981, 'Cuba',          'NA', 0 ],
    JP => [ 1861060, 'Japan',         'AS', 0 ],
    NL => [ 2750405, 'Netherlands',   'EU', 1 ],
    CH => [ 2658434, 'Switzerland',   'EU', 0 ],
    IT => [ 3175395, 'Italy',         'EU', 1 ],
    GB => [ 2635167, 'United Kingdom', 'EU', 0 ],
);
my %CONTINENT = (
    EU => [ 6255148, 'Europe' ],
    NA => [ 6255149, 'North America' ],
    AS => [ 6255147, 'Asia' ],
);

sub country_block {
    my ($cc) = @_;
    my $c = $COUNTRY{$cc};
    my %b = (iso_code => $cc);
    if ($c) {
        $b{geoname_id} = $c->[0];
        $b{names} = { en => $c->[1] };
        $b{is_in_european_union} = 1 if $c->[3];
    }
    return \%b;
}

sub continent_block {
    my ($cc) = @_;
    my $code = $COUNTRY{$cc} ? $COUNTRY{$cc}[2] : 'EU';
    my $k = $CONTINENT{$code};
    return { code => $code, geoname_id => $k->[0], names => { en => $k->[1] } };
}

# country and registered_country both present: the usual GeoIP2-Country record.
sub record_for {
    my ($cc) = @_;
    return {
        continent          => continent_block($cc),
        country            => country_block($cc),
        registered_country => country_block($cc),
    };
}

my %TYPES = (
    continent            => 'map',
    country              => 'map',
    registered_country   => 'map',
    names                => 'map',
    code                 => 'utf8_string',
    iso_code             => 'utf8_string',
    en                   => 'utf8_string',
    geoname_id           => 'uint32',
    is_in_european_union => 'boolean',
);

my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version               => $ipv4_only ? 4 : 6,
    record_size              => 24,
    database_type            => 'GeoIP2-Country',
    languages                => ['en'],
    description              => { en => 'Palisade test GeoIP2-Country database (loopback addresses only)' },
    map_key_type_callback    => sub { $TYPES{ $_[0] } // die "build-test-mmdb: no type for key $_[0]\n" },
    alias_ipv6_to_ipv4       => $ipv4_only ? 0 : 1,
    # Loopback and documentation prefixes are "reserved": keep them, they are the whole point.
    remove_reserved_networks => 0,
    merge_strategy           => 'none',
);

# Order matters: the /8 first, then the /32s split it (the last insert wins).
$tree->insert_network('127.0.0.0/8',   record_for('FR'));
$tree->insert_network('127.0.0.2/32',  record_for('DE'));
$tree->insert_network('127.0.0.3/32',  record_for('US'));
$tree->insert_network('127.0.0.4/32',  record_for('CU'));
$tree->insert_network('127.0.0.5/32',  { continent => continent_block('JP'), registered_country => country_block('JP') });
$tree->insert_network('127.0.0.6/32',  { continent => continent_block('FR') });
if (!$ipv4_only) {
    $tree->insert_network('::1/128',       record_for('NL'));
    $tree->insert_network('2001:db8::/32', record_for('CH'));
}

for my $arg (@ARGV) {
    my ($net, $cc) = $arg =~ m{^([0-9A-Fa-f:.]+/\d{1,3})=([A-Z]{2})$};
    if (!defined $cc) {
        print STDERR "build-test-mmdb: bad mapping '$arg' (expected CIDR=CC such as 127.0.0.2/32=IT)\n";
        exit 2;
    }
    $tree->insert_network($net, record_for($cc));
}

my $tmp = "$out.tmp.$$";
open(my $fh, '>:raw', $tmp) or die "build-test-mmdb: cannot write $tmp: $!\n";
$tree->write_tree($fh);
close($fh) or die "build-test-mmdb: cannot close $tmp: $!\n";
rename($tmp, $out) or die "build-test-mmdb: cannot rename $tmp to $out: $!\n";
exit 0;

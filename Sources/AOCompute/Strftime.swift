/// The glue's JavaScript `strftime` (ao-loader-abi.md 2.3): C-locale names, `%c` = `%a %b %d %H:%M:%S %Y`,
/// E/O modifiers ignored. Always computed from the struct fields, never from the host clock or zone.
enum Strftime {
    static let weekdays = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    static let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                         "October", "November", "December"]

    static func pad(_ v: Int, _ n: Int, _ c: Character = "0") -> String {
        let s = String(v)
        return s.count >= n ? s : String(repeating: c, count: n - s.count) + s
    }

    static func isLeap(_ y: Int) -> Bool { y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) }

    static func isoWeeks(_ y: Int) -> Int {
        func p(_ y: Int) -> Int { (y + y / 4 - y / 100 + y / 400) % 7 }
        return p(y) == 4 || p(y - 1) == 3 ? 53 : 52
    }

    /// ISO 8601 week number and week-based year.
    static func isoWeek(year: Int, yday: Int, wday: Int) -> (week: Int, year: Int) {
        let wdayMon = (wday + 6) % 7
        let w = (yday - wdayMon + 10) / 7
        if w < 1 { return (isoWeeks(year - 1), year - 1) }
        if w > isoWeeks(year) { return (1, year + 1) }
        return (w, year)
    }

    // swiftlint:disable:next function_parameter_count
    static func format(pattern: [UInt8], sec: Int, min: Int, hour: Int, mday: Int, mon: Int, year: Int, wday: Int,
                       yday: Int, gmtoff: Int, zone: String) -> [UInt8] {
        var out = ""
        var i = 0
        let p = pattern
        let fullYear = year + 1900
        let wd = weekdays[((wday % 7) + 7) % 7], mn = months[((mon % 12) + 12) % 12]
        func expand(_ c: UInt8) -> String? {
            switch c {
            case UInt8(ascii: "a"): return String(wd.prefix(3))
            case UInt8(ascii: "A"): return wd
            case UInt8(ascii: "b"), UInt8(ascii: "h"): return String(mn.prefix(3))
            case UInt8(ascii: "B"): return mn
            case UInt8(ascii: "c"): return "\(wd.prefix(3)) \(mn.prefix(3)) \(pad(mday, 2)) \(pad(hour, 2)):\(pad(min, 2)):\(pad(sec, 2)) \(fullYear)"
            case UInt8(ascii: "C"): return pad(fullYear / 100, 2)
            case UInt8(ascii: "d"): return pad(mday, 2)
            case UInt8(ascii: "D"), UInt8(ascii: "x"): return "\(pad(mon + 1, 2))/\(pad(mday, 2))/\(pad(fullYear % 100, 2))"
            case UInt8(ascii: "e"): return pad(mday, 2, " ")
            case UInt8(ascii: "F"): return "\(fullYear)-\(pad(mon + 1, 2))-\(pad(mday, 2))"
            case UInt8(ascii: "g"): return String(String(isoWeek(year: fullYear, yday: yday, wday: wday).year).suffix(2))
            case UInt8(ascii: "G"): return String(isoWeek(year: fullYear, yday: yday, wday: wday).year)
            case UInt8(ascii: "H"): return pad(hour, 2)
            case UInt8(ascii: "I"): return pad(hour == 0 ? 12 : (hour > 12 ? hour - 12 : hour), 2)
            case UInt8(ascii: "j"): return pad(yday + 1, 3)
            case UInt8(ascii: "m"): return pad(mon + 1, 2)
            case UInt8(ascii: "M"): return pad(min, 2)
            case UInt8(ascii: "n"): return "\n"
            case UInt8(ascii: "p"): return hour >= 0 && hour < 12 ? "AM" : "PM"
            case UInt8(ascii: "r"): return "\(pad(hour == 0 ? 12 : (hour > 12 ? hour - 12 : hour), 2)):\(pad(min, 2)):\(pad(sec, 2)) \(hour < 12 ? "AM" : "PM")"
            case UInt8(ascii: "R"): return "\(pad(hour, 2)):\(pad(min, 2))"
            case UInt8(ascii: "S"): return pad(sec, 2)
            case UInt8(ascii: "t"): return "\t"
            case UInt8(ascii: "T"), UInt8(ascii: "X"): return "\(pad(hour, 2)):\(pad(min, 2)):\(pad(sec, 2))"
            case UInt8(ascii: "u"): return String(wday == 0 ? 7 : wday)
            case UInt8(ascii: "U"): return pad((yday + 7 - wday) / 7, 2)
            case UInt8(ascii: "V"): return pad(isoWeek(year: fullYear, yday: yday, wday: wday).week, 2)
            case UInt8(ascii: "w"): return String(wday)
            case UInt8(ascii: "W"): return pad((yday + 7 - (wday + 6) % 7) / 7, 2)
            case UInt8(ascii: "y"): return pad(fullYear % 100, 2)
            case UInt8(ascii: "Y"): return String(fullYear)
            case UInt8(ascii: "z"):
                let off = gmtoff / 60
                let a = abs(off)
                return (off >= 0 ? "+" : "-") + pad(a / 60 * 100 + a % 60, 4)
            case UInt8(ascii: "Z"): return zone
            case UInt8(ascii: "%"): return "%"
            default: return nil
            }
        }
        var bytes: [UInt8] = []
        while i < p.count {
            if p[i] == UInt8(ascii: "%"), i + 1 < p.count {
                var j = i + 1
                if (p[j] == UInt8(ascii: "E") || p[j] == UInt8(ascii: "O")), j + 1 < p.count { j += 1 }
                if let s = expand(p[j]) {
                    bytes += Array(s.utf8)
                    i = j + 1
                    continue
                }
            }
            bytes.append(p[i])
            i += 1
        }
        out = ""
        _ = out
        return bytes
    }
}

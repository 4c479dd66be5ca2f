"use strict";
// Attribute value types, in a module of their own so that the package's small entry (fast.ts) can
// export `double` without loading the wire encoder.
Object.defineProperty(exports, "__esModule", { value: true });
exports.DoubleValue = void 0;
exports.double = double;
/** A number sent as `double_value` even when it is integral (`double(2)`); plain numbers that are
 *  safe integers are sent as `int_value`. */
class DoubleValue {
    constructor(value) {
        this.value = value;
    }
}
exports.DoubleValue = DoubleValue;
/** Marks `value` as a floating-point attribute even if it is a whole number. */
function double(value) {
    return new DoubleValue(value);
}

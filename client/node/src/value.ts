// Attribute value types, in a module of their own so that the package's small entry (fast.ts) can
// export `double` without loading the wire encoder.

/** A number sent as `double_value` even when it is integral (`double(2)`); plain numbers that are
 *  safe integers are sent as `int_value`. */
export class DoubleValue {
  constructor(readonly value: number) {}
}

/** Marks `value` as a floating-point attribute even if it is a whole number. */
export function double(value: number): DoubleValue {
  return new DoubleValue(value);
}

/** An attribute value: its JSON type picks the protobuf type (see wire.ts encodeAttributeValue). */
export type AttributeValue = string | number | bigint | boolean | DoubleValue;
export type Attributes = Record<string, AttributeValue> | Map<string, AttributeValue>;

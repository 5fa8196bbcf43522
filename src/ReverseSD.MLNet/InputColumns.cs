using Microsoft.ML;
using Microsoft.ML.Data;

namespace ReverseSD.MLNet;

/// <summary>
/// The one input-column check every stage's <c>GetOutputSchema</c> (on a <see cref="SchemaShape"/>) and <c>Fit</c> /
/// <c>Transform</c> (on a <see cref="DataViewSchema"/>) use: a missing or wrongly typed column is a
/// <see cref="ReverseSdInputException"/> naming the column, the stage that reads it and what it must hold.
/// </summary>
internal static class InputColumns
{
    private const string TextExpected = "text (one string per row)";
    private const string FloatVectorExpected = "a known-size Single vector (Vector<Single, d>)";

    /// <summary>Requires a scalar text column in a schema shape.</summary>
    public static void RequireText(SchemaShape shape, string name, string role)
    {
        var column = Find(shape, name, role, TextExpected);
        if (column.Kind != SchemaShape.Column.VectorKind.Scalar || column.ItemType is not TextDataViewType)
            throw WrongType(name, role, Describe(column), TextExpected);
    }

    /// <summary>Requires a scalar text column in a schema.</summary>
    public static DataViewSchema.Column RequireText(DataViewSchema schema, string name, string role)
    {
        var column = Find(schema, name, role, TextExpected);
        if (column.Type is not TextDataViewType)
            throw WrongType(name, role, column.Type.ToString() ?? column.Type.GetType().Name, TextExpected);
        return column;
    }

    /// <summary>Requires a known-size float vector column in a schema shape (the size is not visible there).</summary>
    public static void RequireFloatVector(SchemaShape shape, string name, string role)
    {
        var column = Find(shape, name, role, FloatVectorExpected);
        if (column.Kind != SchemaShape.Column.VectorKind.Vector || column.ItemType is not NumberDataViewType n || n.RawType != typeof(float))
            throw WrongType(name, role, Describe(column), FloatVectorExpected);
    }

    /// <summary>Requires a known-size float vector column in a schema and returns its size.</summary>
    public static int RequireFloatVector(DataViewSchema schema, string name, string role)
    {
        var column = Find(schema, name, role, FloatVectorExpected);
        if (column.Type is not VectorDataViewType { ItemType: NumberDataViewType n, Size: > 0 } vector || n.RawType != typeof(float))
            throw WrongType(name, role, column.Type.ToString() ?? column.Type.GetType().Name, FloatVectorExpected);
        return vector.Size;
    }

    /// <summary>Requires a known-size float vector column of the size a fitted model was trained on.</summary>
    public static void RequireFloatVector(DataViewSchema schema, string name, int size, string role)
    {
        int actual = RequireFloatVector(schema, name, role);
        if (actual != size)
            throw new ReverseSdInputException($"Input column '{name}' of the {role} has {actual} values per row; this model was fitted on {size}.");
    }

    private static SchemaShape.Column Find(SchemaShape shape, string name, string role, string expected)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var found = shape.Where(c => c.Name == name).ToList();
        if (found.Count == 0) throw Missing(name, role, expected, shape.Select(c => c.Name));
        return found[^1];
    }

    private static DataViewSchema.Column Find(DataViewSchema schema, string name, string role, string expected)
    {
        ArgumentNullException.ThrowIfNull(schema);
        return schema.GetColumnOrNull(name) ?? throw Missing(name, role, expected, schema.Where(c => !c.IsHidden).Select(c => c.Name));
    }

    private static ReverseSdInputException Missing(string name, string role, string expected, IEnumerable<string> existing) => new(
        $"Input column '{name}' not found (columns: {string.Join(", ", existing.Distinct())}): the {role} needs it as {expected}; set the column name option.");

    private static ReverseSdInputException WrongType(string name, string role, string actual, string expected) => new(
        $"Input column '{name}' of the {role} is {actual}; it must be {expected}.");

    private static string Describe(SchemaShape.Column column) => column.Kind switch
    {
        SchemaShape.Column.VectorKind.Scalar => column.ItemType.ToString()!,
        SchemaShape.Column.VectorKind.VariableVector => $"a variable-size vector of {column.ItemType}",
        _ => $"a vector of {column.ItemType}",
    };
}

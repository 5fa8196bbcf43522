using Microsoft.ML;
using Microsoft.ML.Data;

namespace ReverseSD.MLNet.Retrieval;

/// <summary>A dense row-major float matrix read from a vector column (one row per data view row).</summary>
internal sealed class EmbeddingMatrix
{
    public EmbeddingMatrix(float[] values, int rows, int columns)
    {
        if (values.Length != (long)rows * columns)
            throw new ArgumentException($"A {rows}×{columns} matrix needs {(long)rows * columns} values, got {values.Length}.");
        Values = values;
        Rows = rows;
        Columns = columns;
    }

    /// <summary>Row-major values.</summary>
    public float[] Values { get; }

    public int Rows { get; }

    public int Columns { get; }

    /// <summary>Row <paramref name="i"/> as a span.</summary>
    public ReadOnlySpan<float> Row(int i) => Values.AsSpan(i * Columns, Columns);

    /// <summary>Builds a matrix from equally long rows.</summary>
    public static EmbeddingMatrix FromRows(IReadOnlyList<float[]> rows)
    {
        if (rows.Count == 0) throw new ArgumentException("At least one row is needed.", nameof(rows));
        int d = rows[0].Length;
        var values = new float[rows.Count * d];
        for (int i = 0; i < rows.Count; i++)
        {
            if (rows[i].Length != d) throw new ArgumentException($"Row {i} has {rows[i].Length} values, row 0 has {d}.", nameof(rows));
            rows[i].CopyTo(values, i * d);
        }
        return new EmbeddingMatrix(values, rows.Count, d);
    }

    /// <summary>
    /// Reads a known-size float vector column; <paramref name="role"/> names the option or data set in error messages.
    /// </summary>
    public static EmbeddingMatrix Read(IDataView data, string columnName, string role)
    {
        int d = VectorColumns.RequireSize(data.Schema, columnName, role);
        var column = data.Schema[columnName];
        long? known = data.GetRowCount();
        var values = new float[known is { } count ? checked((int)(count * d)) : 1024 * d];
        int rows = 0;
        using (var cursor = data.GetRowCursor([column]))
        {
            var getter = cursor.GetGetter<VBuffer<float>>(column);
            VBuffer<float> buffer = default;
            while (cursor.MoveNext())
            {
                getter(ref buffer);
                if ((long)(rows + 1) * d > values.Length)
                    Array.Resize(ref values, checked((int)Math.Min((long)values.Length * 2, Array.MaxLength)));
                buffer.CopyTo(values.AsSpan(rows * d, d));
                rows++;
            }
        }
        if (rows == 0)
            throw new ReverseSdInputException($"The {role} has no rows: column '{columnName}' must hold at least one vector.");
        if ((long)rows * d != values.Length) Array.Resize(ref values, rows * d);
        return new EmbeddingMatrix(values, rows, d);
    }
}

/// <summary>Schema checks shared by the estimators of Retrieval/, Ensemble/ and Dakl/.</summary>
internal static class VectorColumns
{
    /// <summary>Requires a known-size float vector column in a schema and returns its size.</summary>
    public static int RequireSize(DataViewSchema schema, string columnName, string role)
    {
        var column = schema.GetColumnOrNull(columnName)
            ?? throw new ReverseSdInputException($"The {role} has no column '{columnName}'; set the column name option to an existing float vector column.");
        if (column.Type is not VectorDataViewType { ItemType: NumberDataViewType n, Size: > 0 } v || n.RawType != typeof(float))
            throw new ReverseSdInputException($"Column '{columnName}' of the {role} is {column.Type}; a known-size float vector (Vector<Single, d>) is needed.");
        return v.Size;
    }

    /// <summary>Requires a known-size float vector column of a given size.</summary>
    public static void RequireSize(DataViewSchema schema, string columnName, int size, string role)
    {
        int actual = RequireSize(schema, columnName, role);
        if (actual != size)
            throw new ReverseSdInputException($"Column '{columnName}' of the {role} has {actual} values per row; this model was fitted on {size}.");
    }

    /// <summary>Requires a known-size float vector column in a schema shape (size is not visible there).</summary>
    public static void Require(SchemaShape shape, string columnName, string role)
    {
        var found = shape.Where(c => c.Name == columnName).ToList();
        if (found.Count == 0)
            throw new ReverseSdInputException($"The {role} has no column '{columnName}'; set the column name option to an existing float vector column.");
        var column = found[^1];
        if (column.Kind != SchemaShape.Column.VectorKind.Vector || column.ItemType is not NumberDataViewType n || n.RawType != typeof(float))
            throw new ReverseSdInputException($"Column '{columnName}' of the {role} is not a known-size float vector.");
    }
}

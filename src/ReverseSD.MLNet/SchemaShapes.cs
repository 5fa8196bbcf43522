using Microsoft.ML;
using Microsoft.ML.Data;

namespace ReverseSD.MLNet;

/// <summary>
/// Builds <see cref="SchemaShape"/>s for our estimators' <c>GetOutputSchema</c>. ML.NET keeps SchemaShape.Column's
/// constructor and SchemaShape.Create internal, so the one place that needs them calls SchemaShape.Create by
/// reflection (pinned to Microsoft.ML 5.0.1; a test covers every estimator's output schema).
/// </summary>
internal static class SchemaShapes
{
    private static readonly System.Reflection.MethodInfo CreateShape =
        typeof(SchemaShape).GetMethod("Create", System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Public, [typeof(DataViewSchema)])
        ?? throw new InvalidOperationException("ML.NET's SchemaShape.Create(DataViewSchema) was not found: this build needs Microsoft.ML 5.0.1.");

    /// <summary>The SchemaShape of a schema.</summary>
    public static SchemaShape Of(DataViewSchema schema) => (SchemaShape)CreateShape.Invoke(null, [schema])!;

    /// <summary>The input shape plus output columns, replacing same-named ones (a vector's size is not part of a shape).</summary>
    public static SchemaShape WithColumns(SchemaShape input, params (string Name, DataViewType Type)[] outputs)
    {
        var builder = new DataViewSchema.Builder();
        foreach (var (name, type) in outputs) builder.AddColumn(name, type);
        var names = new HashSet<string>(outputs.Select(o => o.Name), StringComparer.Ordinal);
        return new SchemaShape(input.Where(c => !names.Contains(c.Name)).Concat(Of(builder.ToSchema())));
    }

    /// <summary>A float vector column type for shapes (the size is not part of a shape).</summary>
    public static VectorDataViewType FloatVector { get; } = new(NumberDataViewType.Single, 1);

    /// <summary>A text vector column type for shapes.</summary>
    public static VectorDataViewType TextVector { get; } = new(TextDataViewType.Instance, 1);
}
